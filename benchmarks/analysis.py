"""How long does `analyze_model` take on a ~100 M-parameter transformer (no latency measurement)?

Builds a GPT-2-shaped decoder from a transformers config (no download: random weights), wraps it
in a ModelHandle with a 128-token input and times the Analysis agent on it — structure, MACs,
family (including the causality probe), INT8 sensitivity of the 5 largest layers, host probe and
opportunities. Prints every figure measured in this one run.

Usage:
    .venv/bin/python benchmarks/analysis.py [--layers 12] [--width 768] [--tokens 128]
                                            [--sensitivity 5] [--repeat 2]

The first analysis in a process also pays one-time imports (torch's dispatch machinery used by
FlopCounterMode, OpenVINO's capability query); the later repeats show the steady-state cost.
"""

from __future__ import annotations

import argparse
import time


def build_decoder(layers: int, width: int, tokens: int):  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    from embodied_ai_architect.modelio.formats import ModelFormat
    from embodied_ai_architect.modelio.handle import TorchModelHandle
    from embodied_ai_architect.schemas.tensors import TensorSpec

    config = GPT2Config(
        vocab_size=50257,
        n_positions=1024,
        n_embd=width,
        n_layer=layers,
        n_head=max(1, width // 64),
    )
    config.use_cache = False  # outputs are logits only (no KV cache objects)
    model = GPT2LMHeadModel(config).eval()
    return TorchModelHandle(
        model,
        name=f"gpt2-{layers}x{width}",
        source_format=ModelFormat.TORCH_ZIP,
        path=None,
        inputs=[
            TensorSpec(
                name="input_ids", shape=[1, tokens], dtype="int64", low=0, high=config.vocab_size
            )
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--sensitivity", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: EAA_NUM_THREADS)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    import torch

    from embodied_ai_architect.agents.analysis import AnalysisRequest, analyze_model
    from embodied_ai_architect.agents.base import AgentContext
    from embodied_ai_architect.settings import get_settings

    imported = time.perf_counter()
    handle = build_decoder(args.layers, args.width, args.tokens)
    built = time.perf_counter()
    true_params = sum(p.numel() for p in handle.module.parameters())
    print(
        f"imports {imported - started:.2f} s, model build {built - imported:.2f} s, "
        f"{true_params / 1e6:.1f} M parameters"
    )
    mark = [time.perf_counter()]

    def trace(event):  # type: ignore[no-untyped-def]
        now = time.perf_counter()
        print(f"    +{now - mark[0]:6.2f} s  {event.percent:5.1f} %  {event.message}")
        mark[0] = now

    # The machine's speed right now, measured in this run: one plain forward pass. The analysis
    # runs ~7 of them (structure+MACs, causality probe, one per sensitivity layer).
    threads = args.threads or get_settings().num_threads
    torch.set_num_threads(threads)
    feeds = handle.example_inputs()
    handle.run(feeds)
    tick = time.perf_counter()
    handle.run(feeds)
    forward = time.perf_counter() - tick
    print(f"one forward pass ({args.tokens} tokens, {threads} threads): {forward:.2f} s")

    ctx = AgentContext(settings=get_settings(), sink=trace)
    request = AnalysisRequest(
        handle=handle, measure_latency=False, sensitivity_top_k=args.sensitivity, threads=threads
    )
    for attempt in range(args.repeat):
        tick = time.perf_counter()
        mark[0] = tick
        profile = analyze_model(request, ctx)
        seconds = time.perf_counter() - tick
        print(
            f"run {attempt + 1}: analysis {seconds:.2f} s "
            f"(profile.analysis_seconds {profile.analysis_seconds:.2f}); "
            f"{profile.parameters / 1e6:.1f} M params (true {true_params / 1e6:.1f} M), "
            f"{(profile.macs or 0) / 1e9:.2f} GMACs, family {profile.family.family.value}, "
            f"{len(profile.sensitivity)} sensitivity scores, "
            f"{len(profile.opportunities)} opportunities; "
            f"= {seconds / forward:.1f} forward passes"
        )
    print("evidence:", "; ".join(profile.family.evidence))
    print("top opportunities:")
    for item in profile.opportunities[:5]:
        print(f"  {item.score:4.1f} {item.technique}: {item.title}")
    print(f"total wall time {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
