//! Audio inside the engine: 20 ms 16-bit PCM frames, resampling, WAV prompts and recordings.
