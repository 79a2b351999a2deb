async def test_messages_append_from_below_reprompts_the_llm() -> None:
    """An LLM turn-tagging filter (after the LLM) re-prompts by sending LLMMessagesAppendFrame upstream."""
    from voiceframe.context.llm_context import LLMContext
    from voiceframe.context.user_aggregator import UserAggregator
    from voiceframe.frames import LLMContextFrame, LLMMessagesAppendFrame
    from voiceframe.testing import run_processor
    from voiceframe.testing.run import Upstream

    context = LLMContext(messages=[{"role": "user", "content": "so I was thinking"}])
    note = {"role": "system", "content": "The user paused. Continue."}
    result = await run_processor(
        UserAggregator(context), [Upstream(LLMMessagesAppendFrame(messages=[note], run_llm=True))]
    )
    assert context.messages[-1] == note
    assert [type(f).__name__ for f in result.downstream] == ["LLMContextFrame"]
    assert isinstance(result.downstream[0], LLMContextFrame) and not result.upstream
