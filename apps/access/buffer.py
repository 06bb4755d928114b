"""Access history without a database write per request.

Requests append rows to a bounded in-process buffer. A background thread writes them in
batches (COPY on PostgreSQL) every REDGX_ACCESS_FLUSH_S seconds. When the database is unreachable the rows
stay in the buffer and the thread retries with exponential backoff. Only past
REDGX_ACCESS_BUFFER_MAX rows are the oldest dropped, counted and logged.

The buffer is flushed once more when the process stops: by an atexit handler under
gunicorn, and by the ASGI lifespan shutdown under uvicorn (apps.access.lifespan), because
uvicorn ends by re-raising SIGTERM and never runs atexit handlers. Rows of a killed
process are lost.
"""

import atexit
import enum
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection

from .models import AccessRecord, Transport

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
MAX_BACKOFF_S = 30.0
# Field lengths of AccessRecord. Longer values from the URL are cut to fit.
_LIMITS = {"key_prefix": 16, "namespace": 63, "area": 32, "action": 32}


class PendingRecord(NamedTuple):
    """An access row waiting in the buffer: AccessRecord's fields in COPY's column order.

    With an AccessRecord instance, record_access took about 8 µs of CPU per row on the
    development machine, and about 2 µs with this tuple and the cached address parsing.
    ``transport`` is the stored text value, so COPY writes the tuple as it is.
    """

    time: datetime
    key_prefix: str
    namespace: str
    area: str
    action: str
    status: int
    client_address: str | None
    duration_ms: float
    transport: str


class AccessBuffer:
    """A bounded, thread-safe FIFO of unsaved rows: PendingRecord tuples or AccessRecord instances."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self._rows: deque[AccessRecord] = deque()
        self._lock = threading.Lock()
        # Rows dropped since the last warning, and in total.
        self.dropped_unlogged = 0
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, row: AccessRecord) -> None:
        with self._lock:
            self._rows.append(row)
            self._trim()

    def take(self, count: int) -> list[AccessRecord]:
        with self._lock:
            return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def put_back(self, rows: list[AccessRecord]) -> None:
        """Return rows that could not be written to the front of the buffer, in their original order."""
        with self._lock:
            self._rows.extendleft(reversed(rows))
            self._trim()

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def _trim(self) -> None:
        while len(self._rows) > self.max_rows:
            self._rows.popleft()
            self.dropped_unlogged += 1
            self.dropped_total += 1

    def log_dropped(self) -> None:
        with self._lock:
            dropped, self.dropped_unlogged = self.dropped_unlogged, 0
        if dropped:
            logger.warning(
                "Access history buffer full (%d rows): dropped the %d oldest rows (%d in total)",
                self.max_rows,
                dropped,
                self.dropped_total,
            )


# The columns that COPY writes, in order; the id comes from the table's sequence.
_COPY_FIELDS = [field for field in AccessRecord._meta.concrete_fields if not field.primary_key]


def _copy_value(value):
    # Field.get_db_prep_save per value cost as much as the COPY itself. The fields here are
    # text, numbers, a datetime and an inet, which psycopg writes as they are, except the
    # transport, a TextChoices member stored as its value.
    return value.value if isinstance(value, enum.Enum) else value


def _insert(rows: list) -> None:
    """Insert rows in one statement: COPY on PostgreSQL, bulk_create elsewhere.

    Under a KV GET load bulk_create took about 10% of the web workers' CPU time, most of it
    compiling the INSERT, while COPY sends rows with no SQL per row.
    """
    if connection.vendor != "postgresql":
        AccessRecord.objects.bulk_create([_as_model(row) for row in rows])
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _COPY_FIELDS)
    statement = f"COPY {quote(AccessRecord._meta.db_table)} ({columns}) FROM STDIN"
    # Rows written through psycopg's copy() skip Django's cursor methods, so errors are
    # converted to Django's DatabaseError classes here, as the caller expects.
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            if isinstance(row, PendingRecord):
                copy.write_row(row)
            else:
                copy.write_row([_copy_value(getattr(row, field.attname)) for field in _COPY_FIELDS])


def _as_model(row) -> AccessRecord:
    return AccessRecord(**row._asdict()) if isinstance(row, PendingRecord) else row


def flush(buffer: AccessBuffer) -> int:
    """Write every buffered row; return how many were written.

    On a database error the batch goes back to the buffer and the error is raised.
    """
    written = 0
    while True:
        rows = buffer.take(BATCH_SIZE)
        if not rows:
            return written
        try:
            _insert(rows)
        except DatabaseError:
            buffer.put_back(rows)
            raise
        written += len(rows)


class _Flusher(threading.Thread):
    def __init__(self, buffer: AccessBuffer, interval_s: float):
        super().__init__(name="redgx-access-flusher", daemon=True)
        self.buffer = buffer
        self.interval_s = interval_s
        self.stopping = threading.Event()

    def run(self) -> None:
        delay = self.interval_s
        while not self.stopping.wait(delay):
            delay = self._flush_once(delay)

    def _flush_once(self, delay: float) -> float:
        """Flush and return the wait before the next attempt."""
        self.buffer.log_dropped()
        try:
            written = flush(self.buffer)
        except DatabaseError as exc:
            delay = min(max(delay * 2, self.interval_s), MAX_BACKOFF_S)
            logger.warning(
                "Could not write access history (%d rows waiting), retrying in %.1f s: %s",
                len(self.buffer),
                delay,
                exc,
            )
            return delay
        except Exception:
            logger.exception("Access history flush failed (%d rows waiting)", len(self.buffer))
            return self.interval_s
        finally:
            # This thread serves no requests, so nothing else closes its connection, and a
            # connection broken by an outage must be replaced before the next attempt.
            connection.close()
        if written and delay > self.interval_s:
            logger.info("Access history written again after a database error: %d rows", written)
        return self.interval_s


_buffer: AccessBuffer | None = None
_buffer_pid: int | None = None
_start_lock = threading.Lock()


def get_buffer() -> AccessBuffer:
    """Return this process's buffer, starting its flusher on first use after a fork.

    With REDGX_ACCESS_FLUSH_S = 0 no thread starts and rows wait for flush_now().
    """
    global _buffer, _buffer_pid
    if _buffer_pid != os.getpid():
        with _start_lock:
            if _buffer_pid != os.getpid():
                buffer = AccessBuffer(settings.REDGX_ACCESS_BUFFER_MAX)
                if settings.REDGX_ACCESS_FLUSH_S > 0:
                    flusher = _Flusher(buffer, settings.REDGX_ACCESS_FLUSH_S)
                    flusher.start()
                    atexit.register(_flush_at_exit, flusher)
                _buffer, _buffer_pid = buffer, os.getpid()
    return _buffer


def _flush_at_exit(flusher: _Flusher) -> None:
    flusher.stopping.set()
    flush_at_shutdown()


def flush_at_shutdown() -> None:
    """Write the rows this process still buffers, logging the outcome; for process shutdown."""
    if _buffer is None or _buffer_pid != os.getpid():
        return
    try:
        written = flush(_buffer)
    except DatabaseError as exc:
        logger.error("Access history lost at exit: %d rows not written: %s", len(_buffer), exc)
        return
    finally:
        connection.close()
    logger.info("Access history flushed at exit: %d rows", written)


def flush_now() -> int:
    """Write this process's buffered rows in the calling thread; raise DatabaseError on failure."""
    return flush(get_buffer())


def record_access(
    *,
    transport: Transport,
    status: int,
    started: float,
    client_address: str | None,
    key_prefix: str = "",
    namespace: str = "",
    area: str = "",
    action: str = "",
) -> None:
    """Buffer one access row; ``started`` is the ``time.monotonic()`` at the request's start."""
    duration_s = time.monotonic() - started
    row = PendingRecord(
        # The time the request started, so rows sort by arrival.
        time=datetime.fromtimestamp(time.time() - duration_s, tz=UTC),
        key_prefix=key_prefix[: _LIMITS["key_prefix"]] if key_prefix else "",
        namespace=namespace[: _LIMITS["namespace"]] if namespace else "",
        area=area[: _LIMITS["area"]] if area else "",
        action=action[: _LIMITS["action"]] if action else "",
        status=status,
        client_address=_valid_address(client_address) if client_address else None,
        duration_ms=round(duration_s * 1000, 3),
        transport=transport.value,
    )
    get_buffer().append(row)


# Clients repeat their addresses, so parsing each distinct one once saves most of the work.
@lru_cache(maxsize=4096)
def _valid_address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
