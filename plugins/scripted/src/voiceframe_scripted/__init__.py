"""voiceframe-scripted: a rule-based agent that stands in for an LLM offline. It is not a language model."""

from .agent import ScriptedAgentLLM, ScriptedAgentSettings
from .rules import DEFAULT_RULES, Rule, match_rule

__all__ = ["DEFAULT_RULES", "Rule", "ScriptedAgentLLM", "ScriptedAgentSettings", "match_rule"]
