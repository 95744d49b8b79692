"""The measurement harness that runs INSIDE the sandbox (stdlib only; the host sends this file's source as
the program and a JSON job on stdin; it prints one JSON object).

One job is one *measure set*: the arguments in `grow` are expanded with one strategy over a geometric schedule
of scale factors 1, 2, 4, ... (the example itself first). Phase 1 grows until a call costs `call_cap` seconds
of CPU time, the inputs reach `max_elems` elements, the function fails at a larger size, or 30% of the budget
is spent; phase 2 times every kept size in shuffled rounds (as many as fit 60% of the budget, at least 3), each
timing a batch of calls long enough for the clock; phase 3 takes the tracemalloc peak of one call per size
with what is left. Every call gets a fresh module namespace (so `functools.cache` and module-level memo
tables start empty) and a pristine copy of its inputs when the function mutates them.

Expansion (after BigO(Bench), arXiv 2503.15242; own implementation): ints and floats are multiplied by the
factor ("scaled values"); strings, lists and tuples are tiled ("copy"), refilled with random elements like
the example's ("random"), or tiled with ints shifted apart so that all differ ("distinct"), or made of distinct
values in random order ("shuffled": ints drawn from a range 1024x their number, unless they may be indices); lists
of lists grow their rows and, when the example is square, their columns; dicts and sets gain new keys. bools, None and
empty containers do not grow.
"""

import _thread
import ast
import collections
import ctypes
import errno
import gc
import hashlib
import io
import json
import math
import operator
import os
import random
import signal
import statistics
import struct
import sys
import threading
import time
import tracemalloc


class TooSlow(Exception):
    pass


WORKER = []  # the ident of the thread that runs the calls
ARMED = threading.Lock()  # held by the worker while a capped batch of calls runs (see `_timed_batch`)
CAPPED = []  # [True] while a capped batch runs


def _on_prof(signum, frame):
    """The per-call CPU cap (ITIMER_PROF) expired: raise TooSlow in the worker thread. Raising here, in the
    main thread, would interrupt Thread.join, which then wrongly reports the worker as stopped. On a loaded machine
    the handler can run late, after the batch ended: then it must not interrupt whatever the worker does next."""
    with ARMED:
        if not CAPPED:
            return
        for ident in WORKER:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(TooSlow))


# ------------------------------------------------------------------------------------- confinement


# Work done in another thread or process is invisible to a clock that reads one thread (a quadratic loop in a
# helper thread read as linear) or one process. So the measured code may not start either: a seccomp filter on
# every thread of this process (the sandbox's own filters stay) makes clone, clone3, fork, vfork and
# io_uring_setup fail with ENOTSUP (an errno these calls never give otherwise, so a refusal is recognised).
# Hand-assembled classic BPF, as the harness is stdlib only.
class NoConfinement(Exception):
    pass


_ARCH = {"x86_64": (0xC000003E, (56, 435, 57, 58, 425), 317), "aarch64": (0xC00000B7, (220, 435, 425), 277)}


def _task_filter(machine):
    audit, denied, _ = _ARCH[machine]
    ld, jeq, ret, allow, refuse = 0x20, 0x15, 0x06, 0x7FFF0000, 0x00050000 | errno.ENOTSUP
    jge = 0x35
    # another architecture's calls, and x32 ones (numbers from 0x40000000), are all refused
    code = [
        (ld, 0, 0, 4),
        (jeq, 1, 0, audit),
        (ret, 0, 0, refuse),
        (ld, 0, 0, 0),
        (jge, len(denied) + 1, 0, 0x40000000),
    ]
    for i, nr in enumerate(denied):  # on a match, jump to the final "deny"
        code.append((jeq, len(denied) - i, 0, nr))
    code += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    return b"".join(struct.pack("=HBBI", *ins) for ins in code)


def forbid_new_tasks():
    """Install the filter on all threads (SECCOMP_FILTER_FLAG_TSYNC); NoConfinement where that is impossible,
    so that nothing is measured without it."""
    machine = os.uname().machine
    if machine not in _ARCH:
        raise NoConfinement(f"cannot refuse new threads and processes on {machine}")
    program = _task_filter(machine)
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    prog = struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buf))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (bubblewrap set it already)
    # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)
    if libc.syscall(_ARCH[machine][2], 1, 1, ctypes.c_char_p(prog)) != 0:
        raise NoConfinement(f"cannot install the filter refusing new threads: errno {ctypes.get_errno()}")


def _refused_task(err):
    """Whether `err` is the filter refusing a thread or process (what the code does about it is its business)."""
    if isinstance(err, RuntimeError) and "new thread" in str(err):
        return True
    return isinstance(err, OSError) and err.errno == errno.ENOTSUP


# ----------------------------------------------------------------------------------------- expansion


# Random ints take at most this many values, so that hash tables keyed by them stay in the L1/L2 caches: with
# 2048 values, the dict of an O(n) two-sum or `len(set(a))` grew out of cache within the measured sizes and read
# as O(n log n) in some runs. The price: code whose cost depends on the number of *distinct* values
# (`sorted(set(a))`) is measured on few of them.
MAX_SPAN = 256


def _int_range(values, factor):
    """The range of random ints: the example's range widened by the factor (the negative bound down, the
    positive bound up), so that values keep their relation to scaled arguments (a target sum stays as reachable
    as in the example), capped at MAX_SPAN values so that hash tables do not outgrow the CPU caches (with an
    unbounded range, linear code looks n log n); 0/1 flags stay flags."""
    lo, hi = min(values), max(values)
    if hi - lo <= 1:
        return lo, hi
    lo = lo * factor if lo < 0 else lo
    hi = hi * factor if hi > 0 else hi
    if hi - lo > MAX_SPAN:
        if lo >= 0:
            hi = lo + MAX_SPAN
        elif hi <= 0:
            lo = hi - MAX_SPAN
        else:
            lo, hi = -MAX_SPAN // 2, MAX_SPAN // 2
    return lo, hi


def _random_like(example, rng, pool):
    """A random value shaped like `example`; ints drawn from the pool's range."""
    if isinstance(example, bool):
        return rng.random() < 0.5
    if isinstance(example, int):
        return rng.randint(*pool["int"])
    if isinstance(example, float):
        return rng.uniform(*pool["int"])
    if isinstance(example, str):
        return "".join(rng.choice(pool["chars"]) for _ in range(len(example)))
    if isinstance(example, list | tuple):
        out = [_random_like(rng.choice(example), rng, pool) for _ in example] if example else []
        return out if isinstance(example, list) else tuple(out)
    return example


def _pool(values, factor):
    ints = [v for v in _leaves(values) if isinstance(v, int | float) and not isinstance(v, bool)]
    chars = sorted({c for v in _leaves(values) if isinstance(v, str) for c in v})
    return {
        "int": _int_range(ints, factor) if ints else (0, min(factor, MAX_SPAN)),
        "chars": chars if len(chars) > 1 else list("abcdefghijklmnopqrstuvwxyz"),
    }


def _leaves(value):
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _leaves(v)
    else:
        yield value


# Shuffled distinct ints are drawn from a range this many times their number (unless they may be indices): CPython
# hashes an int to itself, so a set of a dense range iterates in sorted order and `sorted(set(a))` costs O(n) there;
# over a wide range the order is scrambled, as for any other keys. A range proportional to n keeps code whose cost
# follows the largest value (a counting sort) at its class.
WIDE = 1024


def _index_like(seq):
    return all(0 <= v < len(seq) for v in seq)


def _grow_seq(seq, factor, strategy, rng):
    if strategy == "shuffled":  # all values distinct, in random order
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in seq)
        if ints and not _index_like(seq):
            length = len(seq) * factor
            return rng.sample(range(min(seq), min(seq) + WIDE * length), length)
        grown = _grow_seq(seq, factor, "distinct", rng)
        rng.shuffle(grown)
        return grown
    length = len(seq) * factor
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in seq)
    if strategy == "distinct" and all(isinstance(v, str) for v in seq):  # tile i's words end in i: all differ
        return [seq[i % len(seq)] + (str(i // len(seq)) if i >= len(seq) else "") for i in range(length)]
    if strategy == "copy" or (strategy == "distinct" and not ints):
        return [seq[i % len(seq)] for i in range(length)]
    if strategy == "distinct":  # tiles shifted apart: all values distinct, the example's local order kept
        shift = max(seq) - min(seq) + 1
        return [seq[i % len(seq)] + (i // len(seq)) * shift for i in range(length)]
    pool = _pool(seq, factor)
    if ints:
        lo, hi = pool["int"]
        span = hi - lo + 1
        draw = rng.random
        return [lo + int(draw() * span) for _ in range(length)]
    return [_random_like(seq[i % len(seq)], rng, pool) for i in range(length)]


def _is_square(rows):
    return len(rows) > 1 and all(isinstance(r, list | tuple) and len(r) == len(rows) for r in rows)


def expand(value, factor, strategy, rng):
    """`value` grown by `factor` with `strategy`: "copy" (tile), "random" (random elements like the example's)
    or "distinct" (tiles of ints shifted apart so that all differ, tiles of words given the tile's number as a
    suffix; strings over a 26-letter alphabet), or "shuffled" (distinct, in random order: many distinct values that
    a sort or a tree over them must order, where random ints span 256 values and distinct tiles stay in runs; ints
    from a wide range, `WIDE`); numbers are always scaled."""
    if factor == 1 or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return value * factor
    if isinstance(value, str):
        if not value:
            return value
        if strategy == "copy":
            return value * factor
        wide = strategy in ("distinct", "shuffled") or len(set(value)) < 2
        chars = list("abcdefghijklmnopqrstuvwxyz") if wide else sorted(set(value))
        return "".join(rng.choice(chars) for _ in range(len(value) * factor))
    if isinstance(value, list | tuple):
        if not value:
            return value
        if _is_square(value):  # a matrix: grow both dimensions
            rows = [list(expand(list(r), factor, strategy, rng)) for r in value]
            out = _grow_seq(rows, factor, "copy", rng)
            if strategy == "random":
                pool = _pool(value, factor)
                out = [[_random_like(x, rng, pool) for x in row] for row in out]
            out = [type(value[0])(r) for r in out]
        else:
            out = _grow_seq(list(value), factor, strategy, rng)
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, set | frozenset):
        grown = set(value)
        items = list(value)
        shift = _shift(items)
        for i in range(1, factor):
            grown.update(_shifted(v, i, shift) for v in items)
        return type(value)(grown)
    if isinstance(value, dict):
        grown = dict(value)
        shift = _shift(list(value))
        for i in range(1, factor):
            for k, v in value.items():
                grown[_shifted(k, i, shift)] = v
        return grown
    return value


def _shift(keys):
    ints = [k for k in keys if isinstance(k, int) and not isinstance(k, bool)]
    return (max(ints) - min(ints) + 1) if ints else 1


def _shifted(key, i, shift):
    if isinstance(key, int) and not isinstance(key, bool):
        return key + i * shift
    if isinstance(key, str):
        return f"{key}{i}"
    return (key, i)


def size_of(value):
    """The size variable of an argument: the value of a number, the length of a container."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return abs(value)
    if isinstance(value, list | tuple | str | dict | set | frozenset):
        return len(value)
    return 0


def elements(value):
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset):
        return len(value) + sum(elements(v) for v in value if isinstance(v, list | tuple | str | dict))
    if isinstance(value, dict):
        return 2 * len(value)
    return 1


def clone(value):
    """A fast structural copy (copy.deepcopy is ~1 µs per element: too slow for 10^5-element inputs)."""
    if isinstance(value, list):
        return [clone(v) for v in value] if value and isinstance(value[0], list | dict | set) else list(value)
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, set):
        return set(value)
    if isinstance(value, tuple):
        return tuple(clone(v) for v in value)
    return value


# ------------------------------------------------------------------------------------- counted comparisons


# A clock cannot see C-level work that the interpreter's own overhead outweighs: a bisect over 16k ints is ~14 C
# comparisons beside a Python call, the log factor of a heap hides under the loop around it. Comparisons can be
# counted, though, exactly: in the "compared" measure set the ints, floats and strs inside the grown containers are
# instances of subclasses whose comparisons count themselves (also those made in C: sorts, bisect, heapq, min, max,
# `in`, `index`). The count is a lower bound of the cost (each comparison costs at least a constant) without noise;
# measured code that tampers with it cannot look faster (the host only raises the class with it); inflating it
# to look slower buys nothing that padding the code with real work would not.
COMPARISONS = [0]
# arithmetic on a counting number gives a counting number (int or float), adding a counting str one: values the code
# derives from the elements (a max-heap of negated values, sums of pairs) still count their comparisons
DERIVING = (
    "__neg__",
    "__pos__",
    "__abs__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
)
DERIVING += ("__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__truediv__", "__rtruediv__")


def _counting_type(base):
    def counting(compare):
        def method(self, other, _compare=compare, _count=COMPARISONS):
            _count[0] += 1
            return _compare(self, other)

        return method

    def deriving(operation):
        def method(self, *other, _operation=operation):
            value = _operation(self, *other)
            kind = COUNTED.get(type(value))
            return value if kind is None else kind(value)

        return method

    methods = {
        name: counting(getattr(base, name))
        for name in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__")
    }
    methods |= {name: deriving(getattr(base, name)) for name in DERIVING if hasattr(base, name)}
    # defining __eq__ would drop the hash: keep the base's, so hashing stays C-level and uncounted
    return type(
        f"Counted{base.__name__.title()}", (base,), {"__slots__": (), "__hash__": base.__hash__, **methods}
    )


COUNTED = {int: _counting_type(int), float: _counting_type(float), str: _counting_type(str)}


def counted(value, _inside=False):
    """`value` with the ints, floats and strs inside its containers (not the value itself: a number argument is a
    size, and a str's own characters and slices are plain strs whatever its class) made of counting types."""
    kind = type(value)
    if _inside and kind in COUNTED:
        return COUNTED[kind](value)
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        return kind(counted(v, True) for v in value)
    if kind is dict:
        return {counted(k, True): counted(v, True) for k, v in value.items()}
    return value


# ------------------------------------------------------------------------------------------ calling


def _stdin_function(compiled):
    """A stdin program as a function of its input text (rendered before the timing): run it, drop its output."""

    def main(text):
        saved = sys.stdin, sys.stdout
        sys.stdin, sys.stdout = io.StringIO(text), io.StringIO()
        try:
            exec(compiled, {"__name__": "__main__", "__builtins__": __builtins__})
        except SystemExit:
            pass
        finally:
            sys.stdin, sys.stdout = saved

    return main


def _render(spec, args):
    lines = []
    for kind, index in spec:
        value = args[index] if index is not None else None
        if kind == "len":
            lines.append(str(len(value)))
        elif kind == "row":
            lines.append(" ".join(map(str, value)))
        elif kind == "block":
            lines.extend(" ".join(map(str, r)) if isinstance(r, list) else str(r) for r in value)
        else:
            lines.append(str(value))
    return "\n".join(lines) + "\n"


def make_factory(job):
    compiled = compile(job["code"], "solution.py", "exec")
    if job.get("stdin_render") is not None:
        return lambda: _stdin_function(compiled)
    entry = job["entry"]

    def fresh():
        namespace = {"__name__": "solution", "__builtins__": __builtins__}
        exec(compiled, namespace)
        fn = namespace.get(entry)
        if fn is None and "Solution" in namespace:
            fn = getattr(namespace["Solution"](), entry, None)
        if not callable(fn):
            raise NameError(f"the code defines no function {entry!r}")
        return fn

    return fresh


MAIN_CLOCK = []  # the main thread's CPU clock id


def _cpu_now(_thread_time=time.thread_time, _clock=time.clock_gettime):
    """CPU seconds of this process's threads: the worker's (it runs the calls) and the main one's (code the worker
    runs may get work done there, by a signal handler). New threads and processes are refused
    (`forbid_new_tasks`), so nothing else can work for it. Not `time.process_time()`: while the ITIMER_PROF cap is
    armed, Linux reads the process clock from a counter updated at scheduler ticks (4 ms here), where a thread's
    clock is exact."""
    return _thread_time() + _clock(MAIN_CLOCK[0])


def _timed_batch(fns, argsets, cap):
    """CPU time of calling each fn on its args, with the garbage collector off as in `timeit`; TooSlow past `cap`
    seconds of CPU. The clock covers the process's two threads (`_cpu_now`); no other can start."""
    gc.collect()
    gc.disable()
    with ARMED:
        CAPPED.append(True)
        signal.setitimer(signal.ITIMER_PROF, cap)
    try:
        start = _cpu_now()
        for fn, args in zip(fns, argsets):
            fn(*args)
        return _cpu_now() - start
    finally:
        with ARMED:
            signal.setitimer(signal.ITIMER_PROF, 0)
            CAPPED.clear()
            # a TooSlow set by a late handler but not raised yet: cancel it (NULL clears the pending exception)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(threading.get_ident()), None)
        gc.enable()


def _describe(err):
    return f"{type(err).__name__}: {err}"[:300]


def _plan_rounds(sizes, mutates, job, left):
    """Batch sizes (each batch long enough for the clock) and the number of timing rounds that fit the budget
    left; the largest sizes are dropped while even the minimum of 3 rounds would not fit."""
    batches = []
    for point in sizes:
        batch = max(1, min(job["max_batch"], int(job["batch_time"] / max(point["t1"], 1e-7))))
        batches.append(1 if mutates else batch)  # many fresh copies would leave each call a cold cache
    overhead = 3e-5  # a fresh namespace and an input copy per call
    cost = [b * (p["t1"] + overhead) for p, b in zip(sizes, batches)]
    while len(sizes) > 5 and 3 * sum(cost) > left:
        sizes, batches, cost = sizes[:-1], batches[:-1], cost[:-1]
    rounds = max(3, min(job["repeats"], int(left / max(sum(cost), 1e-9))))
    return sizes, batches, rounds


class NotPlain(Exception):
    pass


_PLAIN_DEPTH = 200  # deeper nesting (or a container holding itself) is not an output


def plain(value, _depth=0, _type=type, _len=len, _sorted=sorted, _dumps=json.dumps, _hex=bytes.hex):
    """`value` as type-tagged JSON-able data: exactly bool, int, float, str, bytes, None, list, tuple, dict, set and
    frozenset (no subclass: an object of the candidate's class could compare equal to anything), the tag keeping
    True apart from 1 and (1, 2) from [1, 2]; set elements and dict items in a canonical order. NotPlain otherwise.
    The builtins it uses are bound here, when the harness loads, so that measured code rebinding them changes
    nothing."""
    kind = _type(value)
    if _depth > _PLAIN_DEPTH:
        raise NotPlain("nested too deeply (or contains itself)")
    if value is None:
        return ["none"]
    if kind is bool or kind is int or kind is str:
        return [kind.__name__, value]
    if kind is float:
        return ["float", value]
    if kind is bytes:
        return ["bytes", _hex(value)]
    if kind is list or kind is tuple:
        return [kind.__name__, [plain(v, _depth + 1) for v in value]]
    if kind is set or kind is frozenset:
        items = [plain(v, _depth + 1) for v in value]
        return [kind.__name__, _sorted(items, key=_dumps)]
    if kind is dict:
        items = [[plain(k, _depth + 1), plain(v, _depth + 1)] for k, v in value.items()]
        return ["dict", _sorted(items, key=lambda kv: _dumps(kv[0]))]
    raise NotPlain(f"a {kind.__name__!s:.60}")


def same_plain(a, b):
    """Equal plain data (from `plain`): the same tags and values; floats within a relative 1e-9 (a solution may
    sum in another order). Runs on the host, on data decoded from the measuring process's result."""
    if not isinstance(a, list) or not isinstance(b, list) or not a or not b or a[0] != b[0]:
        return False
    if a[0] == "float":
        return math.isclose(a[1], b[1], rel_tol=1e-9, abs_tol=1e-9) or (a[1] != a[1] and b[1] != b[1])
    if a[0] in ("list", "tuple", "set", "frozenset"):
        return len(a[1]) == len(b[1]) and all(same_plain(x, y) for x, y in zip(a[1], b[1]))
    if a[0] == "dict":
        return len(a[1]) == len(b[1]) and all(
            same_plain(ka, kb) and same_plain(va, vb) for (ka, va), (kb, vb) in zip(a[1], b[1])
        )
    return a == b


def _answer(returned, args):
    """The plain data of a call's answer: what it returned and its arguments after the call."""
    return [plain(returned), plain(args)]


def _digest(answer):
    return hashlib.sha256(json.dumps(answer).encode()).hexdigest()[:32]


def _recording(fn, box):
    """`fn`, appending what it returns to `box`."""

    def call(*args):
        box.append(fn(*args))

    return call


SAMPLED_CALLS = 4  # timed calls per batch whose answers are checked, drawn at random (`CHOICE`)
CHOICE = random.SystemRandom().sample

# The plain answers a measurement sends to the host for comparison, at most this many characters in all: growth
# stops there (the host compares each size it was sent).
MAX_ANSWERS_CHARS = 2 * 2**20


# At the largest sizes, a first call (fresh namespace and input) may take this many times the later calls' median
# at most: beyond, the code keeps state across calls outside its module (a cache in `builtins` keyed by the
# input), and the later calls do not measure the algorithm. On the labelled cases the ratio stays below 2.2.
FIRST_CALL_RATIO = 6


def measure(job):
    """Time and space of the job's code over growing inputs. With `check_outputs`, the plain answer of the first
    call at each size and a digest of every timed call's go back to the host, which compares them with the
    reference's (computed in a process of its own, `reference_answers`): nothing here decides whether an answer
    is right."""
    fresh = make_factory(job)
    check = job.get("check_outputs", False)
    answers, answer_chars = [], 0
    rng = random.Random(job["seed"])
    example = job["example"]
    grow = set(job["grow"])
    render = [tuple(x) for x in job["stdin_render"]] if job.get("stdin_render") is not None else None
    call_cap, budget = job["call_cap"], job["budget"]
    # "compared": shuffled inputs of counting types, one call per size, its comparisons counted (no timing rounds)
    counting = job["strategy"] == "compared"
    strategy = "shuffled" if counting else job["strategy"]
    started = time.process_time()
    sizes, stopped, mutates, too_slow_at = [], "max_factor", False, None
    for k in range(job["max_doublings"] + 1):
        factor = 2**k
        args = [expand(a, factor, strategy, rng) if i in grow else a for i, a in enumerate(example)]
        if counting:
            args = [counted(a) if i in grow else a for i, a in enumerate(args)]
        if k and elements(args) > job["max_elems"]:
            stopped = "max_elems"
            break
        n = max(size_of(args[i]) for i in grow)
        if render is not None:  # a stdin program: its one argument is the input text
            args = [_render(render, args)]
        pristine = clone(args)
        returned = []
        try:
            COMPARISONS[0] = 0
            elapsed = _timed_batch([_recording(fresh(), returned)], [args], call_cap * 4 if k else budget)
            comparisons = COMPARISONS[0]
        except TooSlow:
            if not k:
                return {"error": "timeout", "detail": f"one call took over {budget:.2f} s of CPU"}
            stopped = "too_slow"
            too_slow_at = {"n": n, "cpu": call_cap * 4}  # a lower bound of the cost at the next size
            break
        except BaseException as err:  # SystemExit and KeyboardInterrupt too: the code may raise anything
            if _refused_task(err):
                return {"error": "tasks", "detail": _describe(err)}
            if not k:
                return {"error": "raises", "detail": _describe(err)}
            # the host counts raising where the reference answers as a wrong output (it would stop the growth)
            answers.append({"k": k, "n": n, "raises": _describe(err)})
            stopped = "recursion" if isinstance(err, RecursionError) else "raises: " + _describe(err)
            break
        if check:
            try:
                answer = _answer(returned[0], args)
            except (NotPlain, RecursionError) as err:
                return {"error": "not_plain", "detail": f"at size {n} it returns {err}"}
            text = json.dumps(answer)
            answer_chars += len(text)
            answers.append({"k": k, "n": n, "answer": answer, "differing_calls": 0})
        try:
            mutates = mutates or args != pristine
        except Exception:
            mutates = True
        if not k and elapsed > call_cap:
            return {
                "error": "slow_example",
                "detail": f"one call on the example takes {elapsed:.2f} s of CPU",
            }
        point = {
            "factor": factor,
            "n": n,
            "args": pristine,
            "t1": elapsed,
            "comparisons": comparisons,
            "answer": answers[-1] if check else None,
        }
        if check:  # digests of the first call's answer without and with the arguments after it
            point["digest"] = (_digest([answer[0], plain(None)]), _digest(answer))
        sizes.append(point)
        if check and answer_chars > MAX_ANSWERS_CHARS:
            stopped = "answers_size"
            break
        if elapsed > call_cap or time.process_time() - started > budget * 0.3:
            stopped = "call_cap" if elapsed > call_cap else "budget"
            break
        if len(sizes) >= 3 and sizes[-1]["t1"] > 1e-4:  # predicted next call beyond the cap: stop now
            ratio = sizes[-1]["t1"] / max(sizes[-2]["t1"], 1e-9)
            if elapsed * ratio > call_cap * 4:
                stopped = "call_cap"
                break
    if counting:
        points = [{"factor": p["factor"], "n": p["n"], "comparisons": p["comparisons"]} for p in sizes]
        return {
            "points": points,
            "stopped": stopped,
            "mutates": mutates,
            "answers": [],
            "cpu": time.process_time() - started,
        }
    sizes, batches, rounds = _plan_rounds(sizes, mutates, job, budget * 0.6 - (time.process_time() - started))
    times = [[] for _ in sizes]
    order = list(range(len(sizes)))
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order:
            point, batch = sizes[i], batches[i]
            fns, returned = [fresh() for _ in range(batch)], []
            argsets = [clone(point["args"]) for _ in range(batch)] if mutates else [point["args"]] * batch
            calls = [_recording(fn, returned) for fn in fns] if point["answer"] else fns
            try:
                times[i].append(_timed_batch(calls, argsets, call_cap * 4 * batch) / batch)
            except BaseException:
                times[i].append(None)
                continue
            # a random sample of the timed calls (plain data of a large output costs more than the call): each
            # must answer as the first call did (the return value, and the arguments after it if the code mutates)
            for j in CHOICE(range(len(returned)), min(len(returned), SAMPLED_CALLS)):
                try:
                    same = (
                        _digest(_answer(returned[j], argsets[j] if mutates else None))
                        == point["digest"][mutates]
                    )
                except (NotPlain, RecursionError) as err:
                    return {"error": "not_plain", "detail": f"at size {point['n']} it returns {err}"}
                point["answer"]["differing_calls"] += not same
    for point, measured in list(zip(sizes, times))[-2:]:
        later = [t for t in measured if t is not None]
        if later and point["t1"] >= 2e-3 and point["t1"] > FIRST_CALL_RATIO * statistics.median(later):
            return {
                "error": "state",
                "detail": f"at size {point['n']} the first call took {point['t1'] * 1e3:.1f} ms of CPU and later "
                f"ones {statistics.median(later) * 1e3:.2f} ms",
            }
    space = [None] * len(sizes)
    space_left = budget - (time.process_time() - started)
    for i, point in enumerate(sizes):  # smallest first, until the budget is spent (tracemalloc is slow)
        fn, args = fresh(), clone(point["args"])
        before = time.process_time()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            _timed_batch([fn], [args], max(space_left, 0.01))
            space[i] = tracemalloc.get_traced_memory()[1] - base
        except BaseException:
            break
        finally:
            tracemalloc.stop()
        space_left -= time.process_time() - before
        if space_left <= 0:
            break
    points = [
        {
            "factor": p["factor"],
            "n": p["n"],
            "t1": p["t1"],
            "times": [t for t in ts if t is not None],
            "space": s,
        }
        for p, ts, s in zip(sizes, times, space)
    ]
    return {
        "points": points,
        "stopped": stopped,
        "mutates": mutates,
        "answers": answers,
        "too_slow_at": too_slow_at,
        "cpu": time.process_time() - started,
    }


def reference_answers(job):
    """The reference solution's plain answers on the inputs `measure` grows for the same job (same seed, same
    expansions in the same order), in a process of its own: the measured code never holds them. Stops where a
    call fails, takes over 4 call caps or the budget is spent."""
    fresh = make_factory(job)
    rng = random.Random(job["seed"])
    example, grow = job["example"], set(job["grow"])
    started, out, chars = time.process_time(), [], 0
    for k in range(job["max_doublings"] + 1):
        args = [expand(a, 2**k, job["strategy"], rng) if i in grow else a for i, a in enumerate(example)]
        if k and elements(args) > job["max_elems"]:
            break
        returned = []
        try:
            _timed_batch([_recording(fresh(), returned)], [args], job["call_cap"] * 4)
            answer = _answer(returned[0], args)
        except BaseException:
            break
        out.append({"k": k, "answer": answer})
        chars += len(json.dumps(answer))
        if chars > MAX_ANSWERS_CHARS or time.process_time() - started > job["budget"]:
            break
    return {"reference": out}


def _grow_frame_stack():
    """Called first in the worker thread (see `main`). Its frame claims CPython's per-thread *root* chunk of the
    frame stack at 64 MiB: the root chunk is the only one never freed, and it is sized by the thread's first
    frame. Otherwise recursion deeper than a 16 KiB chunk (~150 calls) maps and unmaps a chunk at every crossing,
    on every call: a kernel cost per call level that starts at one depth and reads as a log factor. Harmless
    where the interpreter works differently."""


_grow_frame_stack.__code__ = _grow_frame_stack.__code__.replace(co_stacksize=2**23)


def main():
    job = json.loads(sys.stdin.read())
    job["example"] = list(ast.literal_eval(job["example"]))
    sys.setrecursionlimit(job["recursion_limit"])
    signal.signal(signal.SIGPROF, _on_prof)
    result, finished = {}, _thread.allocate_lock()

    def target():
        WORKER.append(threading.get_ident())
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF})  # delivered to the main thread instead
        try:
            forbid_new_tasks()
            result.update(reference_answers(job) if job.get("role") == "reference" else measure(job))
        except TooSlow:
            result.update({"error": "timeout", "detail": "the program did not finish"})
        except NoConfinement as err:
            result.update({"error": "confinement", "detail": str(err)})
        except BaseException as err:  # the code does not even load, or exits while loading
            result.update({"error": "tasks" if _refused_task(err) else "raises", "detail": _describe(err)})
        finally:
            finished.release()

    # the calls run in a thread with a big stack (deep recursion); Python runs signal handlers in the main
    # thread only, so the main thread waits for SIGPROF (the per-call CPU cap) and interrupts the worker.
    # A bare _thread (no Python frame before ours) whose first frame is `_grow_frame_stack`'s.
    # the result goes out on a private copy of stdout; what the code prints goes to /dev/null
    MAIN_CLOCK.append(time.pthread_getcpuclockid(threading.get_ident()))
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    threading.stack_size(job["stack_mb"] * 2**20)
    finished.acquire()
    _thread.start_new_thread(collections.deque, (map(operator.call, (_grow_frame_stack, target)), 0))
    while not finished.acquire(timeout=0.05):
        pass
    channel.write("\n" + json.dumps(result, default=repr) + "\n")
    channel.flush()


if __name__ == "__main__":
    main()
