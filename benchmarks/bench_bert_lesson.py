"""The small BERT learns the grammar: AdamW through RollToTrain (plain by default) on 2 CPU threads.

Prints one JSON line: training wall time, the model's exact expected masked-token accuracy
(over every masked context of the grammar, no sampling), the exact Bayes optimum, their ratio,
and the step and time at which the ratio first reached 0.9 (checked every ``--every`` steps;
evaluation time is not counted as training time).

    .venv/bin/python benchmarks/bench_bert_lesson.py [--steps 200] [--batch-size 128] [--lr 3e-3]
"""
import argparse
import json
import os
import time

import torch

from rtt_edu import RollToTrain
from rtt_edu.data import FantasyGrammar
from rtt_edu.models import BertConfig, BertMLM


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="lesson", choices=["lesson", "tiny"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--rules", default="plain", help="a SavingThrow preset; 'plain' applies every update")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    grammar = FantasyGrammar()
    batches = grammar.mlm_batches(args.steps * args.batch_size, args.batch_size, seed=args.seed + 1)
    contexts = grammar.contexts
    data_s = time.perf_counter() - t0

    config = getattr(BertConfig, args.config)(vocab_size=len(grammar.vocab), max_len=grammar.config.max_len)
    model = BertMLM(config, seed=args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    trainer = RollToTrain(model, optimizer, rules=args.rules, seed=args.seed, progress=False)

    train_s, eval_s, first90 = 0.0, 0.0, None
    for start in range(0, len(batches), args.every):
        t0 = time.perf_counter()
        trainer.train(batches[start:start + args.every])
        train_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        result = contexts.evaluate(model)
        eval_s += time.perf_counter() - t0
        if first90 is None and result["ratio"] >= 0.9:
            first90 = (trainer.master.step, round(train_s, 2))

    print(json.dumps({
        "benchmark": "bert_lesson", "config": args.config, "rules": args.rules,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": trainer.master.step, "batch_size": args.batch_size, "lr": args.lr, "threads": args.threads,
        "train_wall_s": round(train_s, 2), "data_wall_s": round(data_s, 2), "eval_wall_s": round(eval_s, 2),
        "accuracy": round(result["accuracy"], 4), "optimum": round(result["optimum"], 4),
        "ratio": round(result["ratio"], 4), "loss": round(result["loss"], 4),
        "loss_floor": round(result["loss_floor"], 4),
        "steps_to_90pct": first90[0] if first90 else None, "train_s_to_90pct": first90[1] if first90 else None,
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
