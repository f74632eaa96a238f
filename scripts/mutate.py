"""A small mutation tester: does any test fail when one line of the code is wrong?

For each mutant (one small change to one function of a module: a comparison turned
around, ``and`` for ``or``, ``+`` for ``-``, a number off by one, a condition negated,
a statement dropped), the module is rewritten with that change, the chosen tests are
run with a time limit, and the original is put back. A mutant is *killed* when the
tests fail or time out, and *survives* when they pass. Run it on a scratch copy of the
tree (it rewrites the module while it works), e.g.:

    git archive HEAD | tar -x -C /tmp/mutation && ln -s "$PWD/.venv" /tmp/mutation/.venv
    cd /tmp/mutation && .venv/bin/python scripts/mutate.py editor/realtime/feed.py \\
        --functions _fill,take,join --budget 600 -- tests/test_hub_gaps.py tests/test_hub.py

Arguments after ``--`` are passed to pytest. Mutants are listed in source order; with
``--budget`` (seconds) the run stops when the time is up and says how many were left.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


def mutants(tree: ast.Module, functions: set[str] | None):
    """(function, line, description, mutated tree) for every mutant, in source order."""
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if functions and func.name not in functions:
            continue
        for node in ast.walk(func):
            if node is not func and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue  # nested functions are mutated as part of the enclosing one
            for description, change in _changes(node):
                found.append((func.name, node.lineno, description, node, change))
    found.sort(key=lambda m: m[1])
    for name, line, description, node, change in found:
        mutated = copy.deepcopy(tree)
        target = next(n for n in ast.walk(mutated) if _same(n, node))
        change(target)
        yield name, line, description, mutated


def _same(a: ast.AST, b: ast.AST) -> bool:
    return (
        type(a) is type(b)
        and getattr(a, "lineno", None) == getattr(b, "lineno", None)
        and getattr(a, "col_offset", None) == getattr(b, "col_offset", None)
        and getattr(a, "end_col_offset", None) == getattr(b, "end_col_offset", None)
    )


def _changes(node: ast.AST):
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in SWAPS:
                new = SWAPS[type(op)]

                def swap(n, i=i, new=new):
                    n.ops[i] = new()

                yield f"{type(op).__name__} -> {new.__name__}", swap
    elif isinstance(node, (ast.BinOp, ast.BoolOp)) and type(node.op) in SWAPS:
        new = SWAPS[type(node.op)]

        def swap_op(n, new=new):
            n.op = new()

        yield f"{type(node.op).__name__} -> {new.__name__}", swap_op
    elif isinstance(node, ast.Constant) and type(node.value) is int:

        def bump(n):
            n.value += 1

        yield f"{node.value} -> {node.value + 1}", bump
    elif isinstance(node, (ast.If, ast.While)):

        def negate(n):
            n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)

        yield f"{type(node).__name__.lower()} condition negated", negate
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):

        def drop_not(n):
            n.operand = ast.UnaryOp(op=ast.Not(), operand=n.operand)  # not not x: the truth of x

        yield "not dropped", drop_not
    if isinstance(node, (ast.Expr, ast.Assign, ast.AugAssign, ast.Return, ast.Continue, ast.Break)) and not (
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # docstrings
    ):

        def drop(n):
            for field in list(n._fields):
                setattr(n, field, None)
            n.__class__ = ast.Pass

        yield f"{type(node).__name__.lower()} statement dropped", drop


def run_tests(pytest_args: list[str], timeout: float) -> str:
    """'killed' if the tests fail or time out, 'survived' if they pass."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *pytest_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return "survived" if process.wait(timeout=timeout) == 0 else "killed"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the tests and any server they started
        process.wait()
        return "killed (timeout)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", type=Path)
    parser.add_argument("--functions", help="comma-separated function or method names (default: all)")
    parser.add_argument("--budget", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per test run")
    parser.add_argument("--sample", type=int, default=None, help="run only this many mutants, drawn at random")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("pytest_args", nargs="+")
    args = parser.parse_args()

    original = args.module.read_text()
    tree = ast.parse(original)
    functions = set(args.functions.split(",")) if args.functions else None
    todo = list(mutants(tree, functions))
    if args.sample is not None and args.sample < len(todo):
        todo = sorted(random.Random(args.seed).sample(todo, args.sample), key=lambda m: m[1])
    if run_tests(args.pytest_args, args.timeout) != "survived":
        print("the tests fail without any mutant: nothing to measure", file=sys.stderr)
        return 2
    started, counts, done = time.monotonic(), {"killed": 0, "survived": 0}, 0
    try:
        for name, line, description, mutated in todo:
            if args.budget is not None and time.monotonic() - started > args.budget:
                break
            args.module.write_text(ast.unparse(mutated) + "\n")
            outcome = run_tests(args.pytest_args, args.timeout)
            counts["survived" if outcome == "survived" else "killed"] += 1
            done += 1
            print(f"{outcome:17} {args.module}:{line} {name}: {description}", flush=True)
    finally:
        args.module.write_text(original)
    left = len(todo) - done
    print(
        f"{args.module}: {counts['killed']} killed, {counts['survived']} survived of {done} run"
        f" ({left} not run) in {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
