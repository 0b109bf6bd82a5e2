"""AuditLog: the JSON Lines audit writer (issue 5); schema in docs/audit.md.

Why it looks like this:
- It sits on the supervisor's hot path, so syscall() only counts and queues
  a small list; queued records are formatted by hand (C JSON string escaper
  per field) in batches, in place in the same ordered buffer as the ready
  lines, and go to the file in whole-line blocks of ~64 KiB with os.write on
  an O_APPEND fd.  No partial last line: a block always ends with a newline,
  and a failed write is truncated back to the last complete line.
- Nothing is lost, nothing repeated: end() formats and flushes everything,
  is idempotent and may be called from the runner's signal path.  Format and
  flush steps block the catchable termination signals (after letting pending
  Python handlers run) and are re-entrancy guarded; if a handler still runs
  inside one (the kernel gave the signal to another thread) and raises, a
  queue entry is replaced by its line in a single store, and a cut-short
  write is resumed from the file size, so no record is lost or written twice.
- Counters for the exit report are kept even without a file (path None).
- Past --audit-max-mb, records are counted instead of written; start and end
  records are always written (the end record says how many were dropped).
- A write error raises AuditWriteError from the recording call, so the
  supervisor kills the jail (an unaudited run must not go on silently);
  end() never raises.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time

from tracejail._values import _Node
from tracejail.audit.records import SCHEMA_VERSION, escape_bytes, escape_str, json_default
from tracejail.errors import SetupError, TracejailError

# what platform.python_version() says (its import alone is ~4 ms of every start)
_PYTHON = sys.version.split()[0]

FLUSH_BYTES = 64 * 1024
BATCH = 256                  # syscall records queued before they are formatted

_ENC = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=json_default,
                        check_circular=False, allow_nan=True).encode
_BLOCK = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGALRM,
          signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ}
_now = time.time
_now_ns = time.time_ns
_esc = json.encoder.encode_basestring_ascii
_KILLS = frozenset(("KILL", "KILL_THREAD", "KILL_PROCESS"))
_ALLOWS = frozenset(("ALLOW", "LOG", "TRACE", "USER_NOTIF"))

# counter slots per syscall name
CALLS, ALLOWED, DENIED, KILLED, ERRORS, WOULD_DENY, WOULD_KILL, INJECTED = range(8)
COUNTER_NAMES = ("calls", "allowed", "denied", "killed", "errors",
                 "would_deny", "would_kill", "injected")


class AuditWriteError(TracejailError):
    """The audit file could not be written: the run stops rather than go on unaudited."""
    exit_code = 125


def _clean(v):
    """Strings -> escape_str (identity for ordinary text), recursively."""
    if v.__class__ is str:
        return escape_str(v)
    if isinstance(v, dict):
        return {(escape_str(k) if k.__class__ is str else k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return escape_bytes(bytes(v))
    if isinstance(v, _Node) or getattr(v, "__dataclass_fields__", None) is not None:
        return _clean(json_default(v))
    return v


def _tick():
    """A Python-level call: lets pending signal handlers run *now* (RESUME checks them)."""


@contextlib.contextmanager
def _signals_held():
    """Defer tracejail's own signals (the runner's kill/timeout handlers may call
    end()) while the buffer is being changed.  Handlers already pending run first,
    not inside.  Only the main thread runs Python signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCK)
    try:
        _tick()
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_ARG_KEY: dict = {}           # (syscall, index) -> '"argname"' (JSON-ready), filled on first use


def _arg_key(name, i) -> str:
    """resolved={index: path} (the supervisor's TraceeCall) -> the argument's name as JSON."""
    key = _ARG_KEY.get((name, i))
    if key is None:
        from tracejail.supervisor.decode import arg_names
        names = arg_names(name)
        j, _, sub = str(i).partition("[")               # "1[0]": sendmmsg's first mmsghdr
        j = int(j) if j.isdigit() else -1
        key = _esc((names[j] if 0 <= j < len(names) else "arg%s" % i) + ("[" + sub if sub else ""))
        if len(_ARG_KEY) < 10000:
            _ARG_KEY[(name, i)] = key
    return key


_KEYS: dict = {}             # decoded argument name -> '"name":'
_BODIES: dict = {}           # (Deferred.key(), nr, arch, id(verdict), action, resolved) -> (body, verdict)
_LINE = '{"v":%d,"type":"syscall","t":%d.%06d,"pid":%d,"tid":%d,%s}\n'


def _error_line(t_ns, pid, tid, nr, name, e: Exception) -> str:
    """The record of a call whose formatting failed (a bug): never lost."""
    return _ENC({"v": SCHEMA_VERSION, "type": "syscall", "t": t_ns / 1e9, "pid": pid, "tid": tid,
                 "nr": nr, "name": name, "format_error": repr(e)}) + "\n"


def _body(arch, nr, name, args, decoded, verdict, action, resolved, retval, mode, extra,
          unfinished) -> str:
    """A syscall record after its "tid" field, without the closing brace."""
    if decoded.__class__ is not dict and decoded is not None:
        decoded = decoded()                   # deferred by the supervisor (decode.deferred)
    tail = ',"resolved":{' + ",".join([
        (_esc(k) if k.__class__ is str else _arg_key(name, k)) + ":"
        + (_esc(escape_str(v)) if v.__class__ is str else _ENC(v))
        for k, v in resolved.items()]) + "}" if resolved else ""
    if mode:
        tail += ',"mode":' + _esc(mode)
    if extra:
        tail += "," + _ENC(_clean(extra))[1:-1]
    if retval is not None:
        if -4096 < retval < 0:
            tail += ',"ret":%d,"ret_errno":"%s"' % (retval, _errname(-retval))
        else:
            tail += ',"ret":%d' % retval
    if unfinished:
        tail += ',"unfinished":true'
    head = '"arch":%s,"nr":%d,"name":%s' % (_esc(arch), nr,
                                            _esc(name) if name is not None else "null")
    vpart = ',"verdict":"%s"' % action
    if verdict is not None:
        if action == "ERRNO":
            vpart += ',"errno":%d,"errname":"%s"' % (verdict.value, _errname(verdict.value))
        elif action in ("TRAP", "TRACE"):
            vpart += ',"value":%d' % verdict.value
        vpart += ',"rule":' + (_esc(verdict.rule) if verdict.rule.__class__ is str
                               else _ENC(verdict.rule))
    return '%s,"args":[%s],"decoded":%s%s%s' % (
        head, ",".join(map(str, args)), _decoded_json(decoded), vpart, tail)


def _decoded_json(decoded) -> str:
    if not decoded:
        return "null" if decoded is None else "{}"
    keys = _KEYS
    return "{" + ",".join([
        (keys.get(k) or _key(k)) + (_esc(v) if v.__class__ is str else
                                    str(v) if v.__class__ is int else _ENC(v))
        for k, v in decoded.items()]) + "}"


def _key(k) -> str:
    j = _esc(k) + ":"
    if len(_KEYS) < 10000:
        _KEYS[k] = j
    return j


def _errname(e: int) -> str:
    import errno
    return errno.errorcode.get(e, str(e))


class AuditLog:
    """See tracejail/audit/__init__.py for the contract and docs/audit.md for records."""

    def __init__(self, path=None, max_mb=None, *, flush_bytes: int = FLUSH_BYTES,
                 batch: int = BATCH, **_):
        self.path = path
        self._fd = None
        self._own_fd = False
        self._line_mode = False
        if path == "-":
            self._fd = 2
            self._line_mode = True          # stderr is shared: one write per line
        elif path is not None:
            try:
                self._fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                                   | os.O_APPEND | os.O_CLOEXEC, 0o600)
            except OSError as e:
                raise SetupError(f"cannot open audit file {path}: {e.strerror}") from None
            self._own_fd = True
        self._cap = int(max_mb * 1024 * 1024) if max_mb else None
        self._flush_at = flush_bytes
        # One ordered list holds both ready lines (str) and queued syscall
        # records (list, formatted in place in batches): replacing an entry is
        # a single store, so no signal-handler exception can lose or repeat one.
        self._buf: list = []
        self._nraw = 0               # queued (unformatted) entries in _buf
        self._batch = 1 if self._line_mode else batch
        self._formatting = False
        self._buflen = 0
        self._accepted = 0          # bytes accepted for writing (cap accounting)
        self._committed = 0         # bytes of complete lines written to the file
        self._lock = threading.RLock()
        self._flushing = False
        self._ended = False
        self._late = 0              # records after end()
        self.records = 0            # records written (or buffered)
        self.dropped = 0            # records counted, not written (cap)
        self.unfinished = 0         # syscalls whose result never came (--audit-results)
        self.write_error: str | None = None
        self._counts: dict[str, list[int]] = {}
        self._denials: dict[tuple, list] = {}      # (name, verdict, rule, mode) -> [count, example]
        self._violations: dict[tuple, list] = {}   # (name, verdict, rule) -> [count, example]
        self._pending: dict[int, dict] = {}        # tid -> syscall record awaiting its retval
        self._kernel: dict[str, int] | None = None
        self._t0 = _now()
        self._signals = 0
        self._exits = 0
        self._in_call = False

    # ------------------------------------------------------------ output

    def _emit(self, rec: dict, always: bool = False) -> None:
        """A lifecycle record: every string in it is C-escaped like tracee data
        (an exec path or a config argv may hold newlines, ANSI or invalid UTF-8)."""
        self._emit_line(_ENC(_clean(rec)) + "\n", always)

    def _emit_line(self, line: str, always: bool = False) -> None:
        n = len(line)                         # ASCII only (ensure_ascii): len() == bytes
        if self._ended:
            self._late += 1
        if self._cap is not None and not always and self._accepted + n > self._cap:
            self.dropped += 1
            return
        self._accepted += n
        self.records += 1
        if self._fd is None:
            return
        self._buf.append(line)
        self._buflen += n
        if self._line_mode or self._buflen >= self._flush_at:
            self._flush()

    def _flush(self, raising: bool = True) -> None:
        with self._lock:
            if self._flushing or not self._buf or self._fd is None:
                return
            with _signals_held():
                self._flushing = True
                try:
                    self._format_raw()
                    while self._buf and self._fd is not None:
                        k = len(self._buf)
                        data = "".join(self._buf[:k]).encode("ascii")
                        self._write_all(data)
                        newc = self._committed + len(data)
                        rest = self._buf[k:]
                        # one step, no call in between: a handler cannot see half of it
                        self._buf, self._committed = rest, newc
                        self._buflen = sum(map(len, rest))
                except OSError as e:
                    self._fail(e)
                    if raising:
                        raise AuditWriteError(f"audit: cannot write {self.path}: {e.strerror}") from None
                finally:
                    self._flushing = False

    def _write_all(self, data: bytes) -> None:
        """Write data after self._committed bytes.  If an earlier flush was cut
        short by an exception from a signal handler, the file already holds a
        prefix of data: the file size says exactly how much, so nothing is
        written twice."""
        off = 0
        if self._own_fd:
            off = os.fstat(self._fd).st_size - self._committed
            if off < 0 or off > len(data):
                off = 0
        view = memoryview(data)
        try:
            while off < len(data):
                off += os.write(self._fd, view[off:])
        except OSError:
            if self._own_fd:                  # never leave half a line behind
                try:
                    os.ftruncate(self._fd, self._committed)
                except OSError:
                    pass
            raise

    def _fail(self, e: OSError) -> None:
        self.write_error = e.strerror or str(e)
        lost = len(self._buf)
        self.dropped += lost
        self.records -= lost
        self._buf.clear()
        self._buflen = 0
        if self._own_fd:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None

    # ------------------------------------------------------------ records

    def start(self, config, policy_digest: str | None = None, **fields) -> None:
        """Jail start: the full configuration and the policy digest."""
        if hasattr(config, "to_dict"):
            config = config.to_dict()
        self._t0 = _now()
        u = os.uname()
        rec = {"v": SCHEMA_VERSION, "type": "start", "t": self._t0, "tracejail_pid": os.getpid(),
               "host_arch": u.machine, "kernel": u.release, "python": _PYTHON,
               "policy_digest": policy_digest, "config": config}
        rec.update(fields)
        self._emit(rec, always=True)

    def allowed(self, pid, tid, call, decoded, verdict) -> None:
        """syscall() for the supervisor's hot case: an allowing verdict, no mode,
        no result awaited.  ``call`` is the supervisor's SyscallCall (arch, nr,
        name, args, resolved are read from it when the batch is formatted)."""
        if self._fd is None:
            self.syscall(pid=pid, tid=tid, arch=call.arch, nr=call.nr, name=call.name,
                         args=call.args, decoded=decoded, verdict=verdict, resolved=call.resolved)
            return
        self._in_call = True
        self._buf.append((_now_ns(), pid, tid, call, decoded, verdict))   # _queue(), inline
        self._nraw += 1
        if self._nraw >= self._batch:
            self._format_raw()
        c = self._counts.get(call.name)
        if c is None:
            c = self._counts[call.name] = [0] * 8
        c[CALLS] += 1
        c[ALLOWED] += 1
        self._in_call = False

    def syscall(self, *, pid, tid, arch, nr, name, args, decoded=None, verdict=None,
                resolved=None, retval=None, mode=None, await_result=False, **extra) -> None:
        """One supervised syscall.  With await_result=True the record is held
        until result(tid, retval) (--audit-results); if the result never comes
        (task killed, jail ended) it is written with "unfinished": true.

        The hot path only appends a tuple: records are formatted in batches
        (a tight loop runs several times faster than the same code spread over
        ptrace stops, which leave the caches cold)."""
        action = verdict.action if verdict is not None else "ALLOW"
        self._in_call = True
        unfinished = False
        if extra and extra.pop("unfinished", False):   # the caller knows the result never came
            unfinished = True
            self.unfinished += 1
        if self._fd is not None:
            item = [_now_ns(), pid, tid, arch, nr, name, args, decoded, verdict, action,
                    resolved, retval, mode, extra, unfinished]
            if await_result and retval is None:
                old = self._pending.pop(tid, None)
                if old is not None:
                    self._finish_unfinished(old)
                self._pending[tid] = item
            else:
                self._queue(item)
        elif self.write_error:
            self.dropped += 1                 # the file failed: counted, not written
        else:
            self.records += 1                 # counters only (no audit file)
        # counted after the record is queued: a signal handler that ends the
        # log in between sees "interrupted", never a counted call without a line
        c = self._counts.get(name)
        if c is None:
            c = self._counts[name] = [0] * 8
        c[CALLS] += 1
        if mode is None and action in _ALLOWS:
            c[ALLOWED] += 1
            if retval is not None and -4096 < retval < 0:
                c[ERRORS] += 1
        else:
            self._count_other(c, name, action, verdict, mode, decoded, retval)
        self._in_call = False

    def _queue(self, item: list) -> None:
        self._buf.append(item)
        self._nraw += 1
        if self._nraw >= self._batch:
            self._format_raw()

    def _format_raw(self) -> None:
        """Queued syscall entries -> lines, in place and in order."""
        if self._formatting or not self._nraw:
            return
        with _signals_held():
            self._formatting = True
            try:
                buf = self._buf
                line_for, allowed_line = self._line_for, self._allowed_line
                for j in range(len(buf)):
                    e = buf[j]
                    cls = e.__class__           # a single store: formatted exactly once
                    if cls is tuple:
                        buf[j] = allowed_line(e)
                    elif cls is list:
                        buf[j] = line_for(e)
                self._nraw = 0
            finally:
                self._formatting = False
        if self._buflen >= self._flush_at:
            self._flush()

    def _line_for(self, item) -> str:
        try:
            line = self._format_syscall(*item)
        except Exception as e:                # never lose a record to a formatting bug
            line = _error_line(item[0], item[1], item[2], item[4], item[5], e)
        return self._accept(line)

    def _allowed_line(self, item) -> str:
        """The line of an allowed() entry: the fields are the call's."""
        t_ns, pid, tid, c, decoded, v = item
        return self._line_for((t_ns, pid, tid, c.arch, c.nr, c.name, c.args, decoded, v, v.action,
                               c.resolved, None, None, None, False))

    def _accept(self, line: str) -> str:
        """Count a formatted line in (or out, past the size cap)."""
        n = len(line)
        if self._cap is not None and self._accepted + n > self._cap:
            self.dropped += 1
            return ""
        if self._ended:
            self._late += 1
        self._accepted += n
        self.records += 1
        self._buflen += n
        return line

    @staticmethod
    def _format_syscall(t_ns, pid, tid, arch, nr, name, args, decoded, verdict, action,
                        resolved, retval, mode, extra, unfinished) -> str:
        # Formatted by hand (the generic encoder costs ~8 us per record here);
        # every string goes through the C escaper, anything unusual through the
        # full encoder.  Everything after "tid" depends only on the syscall, its
        # arguments, the bytes read and the verdict: a repeated call reuses it.
        # The verdict is compared by identity (the policy returns one object per
        # rule), and the cache keeps it alive so that its id is not reused.
        key = body = None
        if decoded.__class__ is not dict and decoded is not None and not (
                mode or extra or unfinished or retval is not None):
            dk = decoded.key()
            if dk is not None:
                key = (dk, nr, arch, id(verdict), action, *resolved.items()) if resolved else \
                    (dk, nr, arch, id(verdict), action)
                hit = _BODIES.get(key)
                if hit is not None and hit[1] is verdict:
                    body = hit[0]
        if body is None:
            body = _body(arch, nr, name, args, decoded, verdict, action, resolved, retval, mode,
                         extra, unfinished)
            if key is not None:
                if len(_BODIES) >= 4096:
                    _BODIES.clear()
                _BODIES[key] = (body, verdict)
        us = t_ns // 1000
        return _LINE % (SCHEMA_VERSION, us // 1000000, us % 1000000, pid, tid, body)

    def _count_other(self, c, name, action, verdict, mode, decoded, retval):
        if mode == "injected":
            c[INJECTED] += 1
            if action == "ERRNO" or (retval is not None and -4096 < retval < 0):
                c[ERRORS] += 1
        elif mode == "would-deny":
            c[ALLOWED] += 1
            c[WOULD_DENY] += 1
        elif mode == "would-kill":
            c[ALLOWED] += 1
            c[WOULD_KILL] += 1
        elif action in _KILLS:
            c[KILLED] += 1
        elif action in _ALLOWS:
            c[ALLOWED] += 1
        else:
            c[DENIED] += 1
            if action == "ERRNO":
                c[ERRORS] += 1
        if mode or action not in _ALLOWS:
            self._note_denial(name, action, verdict, mode, decoded)

    def _note_denial(self, name, action, verdict, mode, decoded):
        if decoded.__class__ is not dict and decoded is not None:
            decoded = decoded()
        if verdict is None:
            vt = action
        elif action == "ERRNO":
            vt = "ERRNO(%s)" % _errname(verdict.value)
        else:
            vt = str(verdict)
        key = (name, vt, verdict.rule if verdict is not None else None,
               mode or ("killed" if action in _KILLS else "denied"))
        d = self._denials.get(key)
        if d is None:
            from tracejail.supervisor.decode import format_call
            self._denials[key] = [1, format_call(name, decoded or {})]
        else:
            d[0] += 1

    def result(self, tid: int, retval: int) -> None:
        """Syscall-exit stop for a record held with await_result=True."""
        item = self._pending.pop(tid, None)
        if item is None:
            return
        retval = retval - (1 << 64) if retval >= 1 << 63 else retval
        item[11] = retval
        if -4096 < retval < 0 and item[12] is None and item[9] in _ALLOWS:
            c = self._counts.get(item[5])
            if c is not None:
                c[ERRORS] += 1
        self._buf.append(item)
        self._nraw += 1
        if self._nraw >= self._batch:
            self._format_raw()

    def _finish_unfinished(self, item):
        item[14] = True
        self.unfinished += 1
        self._buf.append(item)
        self._nraw += 1

    def _flush_pending(self, tid=None):
        if tid is None:
            for t in list(self._pending):
                self._finish_unfinished(self._pending.pop(t))
        else:
            item = self._pending.pop(tid, None)
            if item is not None:
                self._finish_unfinished(item)

    def process(self, kind: str, pid: int, **fields) -> None:
        """Lifecycle of a traced task: spawn | exec | exit (status, signal, ...)."""
        if kind == "exit":
            self._exits += 1
            self._flush_pending(fields.get("tid", pid))
        rec = {"v": SCHEMA_VERSION, "type": kind, "t": _now(), "pid": pid}
        rec.update(fields)
        self._emit(rec)

    def signal(self, pid: int, signo: int, **fields) -> None:
        self._signals += 1
        try:
            name = signal.Signals(signo).name
        except ValueError:
            name = str(signo)
        rec = {"v": SCHEMA_VERSION, "type": "signal", "t": _now(), "pid": pid,
               "signo": signo, "signal": name}
        rec.update(fields)
        self._emit(rec)

    def limit(self, kind: str, **fields) -> None:
        """A limit was hit: time limit, rlimit, cgroup (pids, memory), max violations."""
        rec = {"v": SCHEMA_VERSION, "type": "limit", "t": _now(), "limit": kind}
        rec.update(fields)
        self._emit(rec)

    def violation(self, *, pid=None, tid=None, name=None, nr=None, arch=None, decoded=None,
                  verdict=None, **fields) -> None:
        """A policy violation (a kill verdict, foreign arch, ...): its own record
        besides the syscall record, grouped by rule for the reports."""
        from tracejail.supervisor.decode import format_call
        call = format_call(name, decoded or {}) if name or decoded else None
        rec = {"v": SCHEMA_VERSION, "type": "violation", "t": _now(), "pid": pid, "tid": tid,
               "arch": arch, "nr": nr, "name": name, "decoded": decoded,
               "verdict": str(verdict) if verdict is not None else None,
               "rule": verdict.rule if verdict is not None else None, "call": call}
        rec.update(fields)
        key = (name, rec["verdict"], rec["rule"])
        v = self._violations.get(key)
        if v is None:
            self._violations[key] = [1, call]
        else:
            v[0] += 1
        self._emit(rec)

    def event(self, kind: str, **fields) -> None:
        """Any other lifecycle record (e.g. "note", "supervisor_error")."""
        rec = {"v": SCHEMA_VERSION, "type": kind, "t": _now()}
        rec.update(fields)
        self._emit(rec)

    def kernel_counts(self, counts: dict) -> None:
        """Kernel-decided syscalls (never stopped in the supervisor), when known."""
        self._kernel = dict(counts)

    def end(self, exit_code: int | None = None, reason: str | None = None, **fields) -> None:
        """Totals, then flush and close.  Idempotent; never raises; safe from a
        signal handler.  If records arrived after a first end(), a second call
        writes a new end record (the last end record is authoritative)."""
        with self._lock:
            if self._ended and not self._late and not self._pending and not self._nraw:
                self._flush(raising=False)
                return
            try:
                self._flush_pending()
                self._format_raw()
                tot = self.totals()
                rec = {"v": SCHEMA_VERSION, "type": "end", "t": _now(),
                       "exit_code": exit_code, "reason": reason,
                       "duration": round(_now() - self._t0, 6), **tot,
                       "records": self.records + 1, "dropped": self.dropped,
                       "unfinished": self.unfinished, "kernel": self._kernel,
                       "write_error": self.write_error}
                if self._in_call:             # ended from a signal handler mid-record
                    rec["interrupted"] = True
                rec.update(fields)
                self._late = 0
                self._ended = True
                self._emit(rec, always=True)
                self._late = 0
            except Exception as e:              # pragma: no cover - end must not raise
                self.write_error = self.write_error or repr(e)
            self._flush(raising=False)
            if self._fd is not None and self._own_fd:
                try:
                    os.fsync(self._fd)
                except OSError:
                    pass

    def close(self) -> None:
        """Close the file (after end()); a later record reopens nothing: it is counted as dropped."""
        with self._lock:
            self._format_raw()
            self._flush(raising=False)
            if self._fd is not None and self._own_fd:
                os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------ counters

    def summary(self) -> dict[str, dict[str, int]]:
        """Per-syscall counters for the exit report: name -> {calls, allowed,
        denied, killed, errors, would_deny, would_kill, injected}."""
        return {(n if n is not None else "?"): dict(zip(COUNTER_NAMES, c))
                for n, c in self._counts.items()}

    def totals(self) -> dict:
        tot = [0] * 8
        for c in self._counts.values():
            for i in range(8):
                tot[i] += c[i]
        d = {"syscalls": tot[CALLS]}
        d.update(zip(COUNTER_NAMES[1:], tot[1:]))
        d["violations"] = sum(v[0] for v in self._violations.values())
        d["signals"] = self._signals
        return d

    def denials(self) -> list[dict]:
        """Denied (or would-be-denied / injected) calls grouped by syscall, verdict, rule, mode."""
        return [{"name": k[0], "verdict": k[1], "rule": k[2], "mode": k[3], "count": v[0],
                 "example": v[1]} for k, v in self._denials.items()]

    def violations(self) -> list[dict]:
        return [{"name": k[0], "verdict": k[1], "rule": k[2], "count": v[0], "example": v[1]}
                for k, v in self._violations.items()]

    @property
    def kernel(self) -> dict | None:
        return self._kernel
