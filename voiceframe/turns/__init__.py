"""Turn taking: end-of-turn strategies, the user turn controller, bot speaking state, LLM turn tags.

Typical placement::

    Pipeline([transport.input(), VADProcessor(VADParams(stop_secs=0.2)), stt,
              UserTurnController(strategy=SmartTurnStrategy()), user_aggregator, llm,
              LLMTurnTagFilter(), tts, transport.output(), assistant_aggregator])

See ``docs/turn-taking.md`` for parameters, measured latencies and tuning.
"""
