"""``POST /v1/tasks/batch``: read up to 50 tasks in one request, as Evolink's own client does.

Facts (Evolink's CLI, ``services/api-client.js`` ``queryTasks``): the body is ``{"task_ids": [...]}`` with
up to 50 ids, the answer ``{"data": [task objects]}``; unknown ids, and ids of tasks created with another
key, are simply absent. The route is not on the public doc pages, so a client must cope without it:

* ``EmulatorConfig.batch_route=False`` starts the emulator with the route answering 404;
* ``POST /_emulator/batch`` ``{"enabled": false}`` switches it off (and back on) at run time;
  ``{"results": false}`` leaves result links out of the items (as the list route does);
  ``{"stale": true}`` answers each task as it stood at its last single GET (or its creation): Evolink's
  client says a GET syncs an unfinished task with the upstream provider, and nothing says a batch read
  does, so clients must not rely on batch reads alone to see a task finish;
* ``GET /_emulator/batch`` reads the switch and counters: batch requests answered, task ids asked for,
  and items returned, so a test can count task observations per request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.context import base_url, context_of, state_of
from airflow_evolink.emulator.errors import json_error

PATH = "/v1/tasks/batch"
CONTROL_PATH = "/_emulator/batch"
MAX_TASK_IDS = 50


@dataclass
class BatchRoute:
    """The route's switches and counters (one per app; the handlers run on the server's thread)."""

    enabled: bool = True
    results: bool = True
    stale: bool = False
    requests: int = 0
    task_ids: int = 0
    items: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "enabled": self.enabled,
                "results": self.results,
                "stale": self.stale,
                "requests": self.requests,
                "task_ids": self.task_ids,
                "items": self.items,
            }


BATCH_KEY: web.AppKey[BatchRoute] = web.AppKey("evolink_emulator_batch", BatchRoute)


def add_batch_routes(app: web.Application, config: EmulatorConfig) -> None:
    """Register the batch read and its control route (before the ``/v1/tasks/{task_id}`` route)."""
    app[BATCH_KEY] = BatchRoute(enabled=config.batch_route)
    app.router.add_post(PATH, read_tasks)
    app.router.add_get(CONTROL_PATH, control_view)
    app.router.add_post(CONTROL_PATH, control_set)


async def read_tasks(request: web.Request) -> web.Response:
    route = request.app[BATCH_KEY]
    if not route.enabled:
        return json_error(404, f"Not Found: POST {PATH}")
    try:
        raw = await request.read()
    except ConnectionResetError:  # the client gave up (its trigger was cancelled): nobody to answer
        return json_error(400, "Connection lost before the body was read")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "Request body must be valid JSON")
    ids = body.get("task_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(task_id, str) for task_id in ids):
        return json_error(400, "task_ids must be a non-empty list of task id strings", "task_ids")
    if len(ids) > MAX_TASK_IDS:
        return json_error(400, f"task_ids must hold at most {MAX_TASK_IDS} ids", "task_ids")
    state = state_of(request)
    key = context_of(request).api_key
    root = base_url(request)
    items: list[dict[str, Any]] = []
    with state.lock:
        now = state.clock.now()
        for task_id in dict.fromkeys(ids):  # each id once, in the order asked
            job = state.jobs.get(task_id)
            if job is None or job.api_key != key:
                continue  # unknown or foreign: absent, not an error
            seen_at = now
            if route.stale:
                seen_at = min(now, job.synced_at if job.synced_at is not None else job.started)
            item = job.view(seen_at, root)
            if not route.results:
                item.pop("results", None)
            items.append(item)
    with route.lock:
        route.requests += 1
        route.task_ids += len(ids)
        route.items += len(items)
    return web.Response(text=json.dumps({"data": items}), content_type="application/json")


async def control_view(request: web.Request) -> web.Response:
    return web.json_response(request.app[BATCH_KEY].view())


async def control_set(request: web.Request) -> web.Response:
    route = request.app[BATCH_KEY]
    try:
        data = json.loads(await request.read() or b"{}")
    except ValueError as error:
        return web.json_response({"error": f"body must be JSON: {error}"}, status=400)
    if not isinstance(data, dict) or set(data) - {"enabled", "results", "stale", "reset_counts"}:
        return web.json_response(
            {"error": 'expected {"enabled": bool, "results": bool, "stale": bool, "reset_counts": bool}'},
            status=400,
        )
    if not all(isinstance(value, bool) for value in data.values()):
        return web.json_response({"error": "every value must be true or false"}, status=400)
    with route.lock:
        route.enabled = data.get("enabled", route.enabled)
        route.results = data.get("results", route.results)
        route.stale = data.get("stale", route.stale)
        if data.get("reset_counts"):
            route.requests = route.task_ids = route.items = 0
    return web.json_response(route.view())
