"""The LLM providers Loom routes at `/proxy/{provider}/` (loom-api.md §5.1) and the models each
front end suggests for them: one vocabulary for the magics, the chat widget and the Lab panel.

A newer Loom may route more providers, so callers treat `PROVIDERS` as the known ones (for "did
you mean"), not as the only ones.
"""
from __future__ import annotations

PROVIDERS = ("anthropic", "openai", "vertex", "zai")  # zai: the newest Loom only

# The first model of each provider is its default; a provider with none needs a model named.
SUGGESTED_MODELS: dict[str, tuple[str, ...]] = {
    "anthropic": ("claude-sonnet-4-20250514", "claude-opus-4-20250514", "claude-3-5-haiku-latest"),
    "openai": ("gpt-4o-mini", "gpt-4o", "gpt-4.1"),
}


def default_model(provider: str) -> str:
    """The model used when none is named, or "" when this provider has no default."""
    models = SUGGESTED_MODELS.get(provider, ())
    return models[0] if models else ""
