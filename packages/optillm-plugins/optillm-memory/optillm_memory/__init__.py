"""optillm ``memory``: a long context is read chunk by chunk, relevant notes are taken from each
chunk concurrently, ranked against the question, and the question is answered from the notes."""
