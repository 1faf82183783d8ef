"""The naive design the product is compared with: the same connector, mapping, ledger and retry
policy, but one Prefect task per document at every step (fetch, map, record, post, delete)
and one bill per Intacct request. The listing is still paged, as the SPS API is."""

from __future__ import annotations

from . import TENANT

_NAIVE: dict = {}


def naive_flow():
    """The inbound flow as a naive design would write it: the listing is paged (the API is),
    but every document is its own task at every step, and every bill its own request. Same
    connector, mapping, ledger and retry policy as the product. Built on first use so that the
    emulator host and memory children do not pay for it."""
    if "flow" in _NAIVE:
        return _NAIVE["flow"]
    from prefect import flow, task
    from prefect.utilities.annotations import opaque

    from ml_connector.connectors.errors import NotFound
    from ml_connector.engine import MAX_PAGES, Run, current_run_id
    from ml_connector.engine.recovery import recover_intents
    from ml_connector.mappings.sps_rows import unwrap
    from ml_connector.pipelines.sps_intacct import PIPELINE
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.tasks.ops import finished_runs, publish_report
    from ml_connector.tasks.retry import retry_options
    from ml_connector.tasks.sps import INBOX

    integration = PIPELINE.name

    @task(name="naive-list-page", **retry_options())
    def list_page(tenant: str, cursor: str | None, limit: int):
        return tenant_resources(tenant).sps().list_page(INBOX, cursor=cursor, limit=limit)

    @task(name="naive-fetch-file", **retry_options())
    def fetch_file(tenant: str, path: str) -> bytes | None:
        try:
            return tenant_resources(tenant).sps().get(path)
        except NotFound:
            return None

    @task(name="naive-map-file")
    def map_file(tenant: str, path: str, content: bytes):
        return unwrap(path, content, tenant_resources(tenant).mapping)

    @task(name="naive-record-file")
    def record_file(tenant: str, rows: list, run_id: str) -> list[int]:
        return tenant_resources(tenant).ledger.ingest(integration, rows, run_id).new_ids

    @task(name="naive-post-bill", **retry_options())
    def post_bill(tenant: str, doc_id: int, run_id: str, bills: dict) -> dict:
        # the pipeline's post with one document: one bill per Intacct request
        return PIPELINE.post.fn(tenant, [doc_id], run_id, bills)

    @task(name="naive-delete-file", **retry_options())
    def delete_file(tenant: str, path: str) -> bool:
        try:
            tenant_resources(tenant).sps().delete(path)
            return True
        except NotFound:
            return False

    @flow(name="naive-sps-to-intacct")
    def naive_sps_to_intacct(tenant: str = TENANT, page_size: int = 500) -> dict:
        run_id = current_run_id()
        # the engine's recovery, as any run of the pipeline starts
        resolved = recover_intents(opaque(PIPELINE), opaque(Run(tenant, integration, run_id)),
                                   finished_runs(tenant, integration, run_id))
        ledger = tenant_resources(tenant).ledger
        cursor = ledger.get_cursor(integration)
        for _ in range(MAX_PAGES):
            listing = list_page(tenant, cursor, page_size)
            for path in listing.files:
                content = fetch_file(tenant, path)
                if content is None:
                    continue
                rows, bills = map_file(tenant, path, content)
                for doc_id in record_file(tenant, rows, run_id):
                    post_bill(tenant, doc_id, run_id, bills)
                delete_file(tenant, path)
            ledger.set_cursor(integration, listing.next_cursor)
            if listing.next_cursor is None:
                break
            cursor = listing.next_cursor
        return publish_report(tenant, integration, run_id, extra=resolved)

    _NAIVE["flow"] = naive_sps_to_intacct
    return naive_sps_to_intacct
