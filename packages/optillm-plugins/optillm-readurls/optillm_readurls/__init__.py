"""optillm ``readurls``: the pages linked in the user's messages are fetched (refusing internal
addresses) and their text is inserted next to each link before the rest of the plan runs."""
