"""Memory writers: an LLM (embedded or OpenAI-compatible), the extractive baseline, or the passages themselves."""

from cloud.writers.extractive_writer import ExtractiveNoteWriter
from cloud.writers.instruct_writer import InstructNoteWriter
from cloud.writers.llm_writer import EXAMPLES, LLMNoteWriter
from cloud.writers.note_writer import FallbackNoteWriter, NoteValidator, NoteWriter
from cloud.writers.passage_writer import PassageNoteWriter
from shared.embeddings import WordPieceCounter, sentence_embedder
from shared.model_files import check_gguf, default_gguf_path, qwen_gguf_path
from shared.settings import Settings, WriterKind


def make_writer(settings: Settings, kind: WriterKind | None = None) -> NoteWriter:
    """The writer the settings ask for, falling back to extractive notes if so configured."""
    cloud = settings.cloud
    kind = kind or cloud.llm
    if kind is WriterKind.PASSAGES:
        return PassageNoteWriter()  # no model to load
    embedder = sentence_embedder(settings)
    validator = NoteValidator(cloud.note_max_tokens, WordPieceCounter().count, [note for _, note in EXAMPLES])
    extractive = ExtractiveNoteWriter(embedder, validator, cloud.extractive_follow_sentences)
    if kind is WriterKind.EXTRACTIVE:
        return extractive
    llm_writer: NoteWriter
    if kind in (WriterKind.EMBEDDED, WriterKind.QWEN):
        from cloud.llm.embedded import EmbeddedLLM  # loads llama.cpp: only when used

        packaged = qwen_gguf_path if kind is WriterKind.QWEN else default_gguf_path
        model = check_gguf(cloud.llm_model_path) if cloud.llm_model_path else packaged(settings.cache_dir)
        llm = EmbeddedLLM(model, cloud.llm_n_ctx, settings.engine.n_threads, name=kind.value)
        if kind is WriterKind.QWEN:
            llm_writer = InstructNoteWriter(llm, validator, cloud.note_max_tokens, embedder)
        else:
            llm_writer = LLMNoteWriter(llm, validator, cloud.note_max_tokens, embedder)
    else:
        from cloud.llm.openai_compatible import OpenAICompatibleLLM

        llm_writer = LLMNoteWriter(OpenAICompatibleLLM(cloud.openai), validator, cloud.note_max_tokens, embedder)
    return FallbackNoteWriter(llm_writer, extractive) if cloud.fallback_to_extractive else llm_writer


__all__ = ["NoteWriter", "make_writer"]
