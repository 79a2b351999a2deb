from voiceframe_scripted import ScriptedAgentLLM, match_rule
from voiceframe_scripted.rules import FALLBACK, grammar_phrases

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import FunctionCallInProgressFrame, LLMContextFrame, LLMTextFrame
from voiceframe.testing import run_processor


def user(text: str) -> LLMContext:
    return LLMContext(messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": text}])


def test_rules_match_on_word_groups() -> None:
    assert match_rule("Hello there") is not None and match_rule("Hello there").name == "greeting"  # type: ignore[union-attr]
    assert match_rule("what's the weather like").name == "weather"  # type: ignore[union-attr]
    assert match_rule("sing a song") is None
    assert "what time is it" in grammar_phrases()


async def test_streams_a_reply_word_by_word_on_the_pipeline_clock() -> None:
    result = await run_processor(ScriptedAgentLLM(), [LLMContextFrame(context=user("tell me a joke"))])
    tokens = [f.text for f in result.of_type(LLMTextFrame)]
    assert "".join(tokens).startswith("Why did the robot") and len(tokens) > 5
    assert result.times[1] - result.times[0] >= 0.2  # first token after first_token_delay


async def test_unknown_request_gets_the_fallback() -> None:
    result = await run_processor(ScriptedAgentLLM(), [LLMContextFrame(context=user("sing a song"))])
    assert "".join(f.text for f in result.of_type(LLMTextFrame)) == FALLBACK


async def test_tool_rule_calls_the_tool_then_speaks_its_result() -> None:
    llm = ScriptedAgentLLM()
    result = await run_processor(llm, [LLMContextFrame(context=user("what is the weather"))])
    [call] = result.of_type(FunctionCallInProgressFrame)
    assert call.function_name == "get_weather" and call.arguments == {"city": "Paris"}
    context = user("what is the weather")
    context.messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.tool_call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        }
    )
    context.messages.append(
        {
            "role": "tool",
            "tool_call_id": call.tool_call_id,
            "content": '{"city": "Paris", "conditions": "sunny", "temperature": 21}',
        }
    )
    result = await run_processor(ScriptedAgentLLM(), [LLMContextFrame(context=context)])
    assert "".join(f.text for f in result.of_type(LLMTextFrame)) == "In Paris it is sunny and 21 degrees."
