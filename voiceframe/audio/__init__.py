"""Audio engine: PCM helpers, resampling, G.711, re-chunking, volume, VAD and turn analysis.

Submodules are imported on demand (``from voiceframe.audio.pcm import ...``) so that importing this
package stays cheap; numpy, soxr and onnxruntime load only with the submodule that needs them.
"""

from __future__ import annotations

__all__ = ["g711", "generators", "pcm", "rechunk", "resample", "turn", "vad", "volume"]
