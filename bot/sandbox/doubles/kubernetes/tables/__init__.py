"""Server-side Table output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

kubectl does not format built-in kinds itself: it asks the API server for a Table and prints its
cells. These are the columns and cells the API server's printers produce for the kinds the
double serves (the same names, order, priorities and formats: `1/1`, `4 (2m ago)`,
`cpu: 96%/70%`, `10.244.1.7:8080 + 1 more...`), computed on the double's clock, so
`kubectl get pods` shows an OOM-killed or crash-looping pod as a cluster would. Like the API
server, every row carries every column; kubectl hides the priority-1 ones unless `-o wide`.
"""

from bot.sandbox.doubles.kubernetes.tables.render import (
    PRINTERS,
    TABLE_MEDIA,
    TABLE_MEDIA_V1BETA1,
    table,
    wants_table,
)

__all__ = ["PRINTERS", "TABLE_MEDIA", "TABLE_MEDIA_V1BETA1", "table", "wants_table"]
