"""Building presidio offline and masking texts with it.

Everything here is synchronous and CPU-bound: the processor runs it in a worker thread. presidio
is imported only inside ``build_analyzer``, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .placeholders import PlaceholderMap

NER_OFF = "off"


@dataclass(frozen=True)
class Analyzer:
    """A built presidio analyzer and anonymizer, and the NER mode they run in."""

    analyzer: Any
    anonymizer: Any
    ner: str  # NER_OFF, or the spaCy model in use
    language: str


AnalyzerFactory = Callable[[str, str], Analyzer]


def ner_model_installed(name: str) -> bool:
    """Whether ``name`` is an installed spaCy package or a model directory (never downloads)."""
    if not name:
        return False
    import spacy.util

    return bool(spacy.util.is_package(name)) or Path(name).is_dir()


def build_analyzer(ner_model: str, language: str) -> Analyzer:
    """presidio with pattern recognizers, the name heuristic and, when ``ner_model`` is
    installed, spaCy NER; otherwise an NLP engine that loads no model. Never touches the
    network."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    from .recognizers import NameHeuristicRecognizer, OfflineEmailRecognizer

    use_ner = ner_model_installed(ner_model)
    models = [{"lang_code": language, "model_name": ner_model if use_ner else "none"}]
    engine = SpacyNlpEngine(models=models) if use_ner else NoOpNlpEngine(models=models)
    engine.load()
    registry = RecognizerRegistry(supported_languages=[language])
    registry.load_predefined_recognizers(languages=[language], nlp_engine=engine)
    registry.remove_recognizer("EmailRecognizer")
    registry.add_recognizer(OfflineEmailRecognizer(supported_language=language))
    registry.add_recognizer(NameHeuristicRecognizer(supported_language=language))
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=[language])
    anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
    return Analyzer(analyzer, anonymizer, ner_model if use_ner else NER_OFF, language)


@dataclass
class Span:
    """One masked stretch of text: the union of overlapping detections."""

    start: int
    end: int
    entity: str
    score: float


def merge_spans(results: Sequence[Any]) -> list[Span]:
    """Overlapping detections become one span covering all of them (nothing detected is left
    in clear); its type is that of the best-scoring, then longest, detection."""
    ordered = sorted(results, key=lambda r: (r.start, -r.end))
    spans: list[Span] = []
    for r in ordered:
        last = spans[-1] if spans else None
        if last is not None and r.start < last.end:
            better = (r.score, r.end - r.start) > (last.score, last.end - last.start)
            if better:
                last.entity, last.score = r.entity_type, r.score
            last.end = max(last.end, r.end)
        else:
            spans.append(Span(r.start, r.end, r.entity_type, r.score))
    return spans


def mask_texts(
    setup: Analyzer,
    texts: Sequence[str],
    mapping: PlaceholderMap,
    *,
    score_threshold: float,
    ignore: frozenset[str],
) -> list[str]:
    """Each text with every detected value replaced by its placeholder in ``mapping``."""
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    out: list[str] = []
    for text in texts:
        if not text.strip():
            out.append(text)
            continue
        found = setup.analyzer.analyze(
            text=text, language=setup.language, score_threshold=score_threshold
        )
        spans = merge_spans([r for r in found if r.entity_type not in ignore])
        if not spans:
            out.append(text)
            continue
        for s in spans:  # number placeholders in reading order
            mapping.placeholder(s.entity, text[s.start : s.end])
        results = [RecognizerResult(s.entity, s.start, s.end, s.score) for s in spans]
        operators = {
            s.entity: OperatorConfig(
                "custom", {"lambda": functools.partial(mapping.placeholder, s.entity)}
            )
            for s in spans
        }
        masked = setup.anonymizer.anonymize(
            text=text,
            analyzer_results=results,
            operators=operators,
            merge_entities_with_spaces=False,
        )
        out.append(masked.text)
    return out
