"""GA4GH Beacon v2: the parts every Beacon in a federation shares — the query model, filters
and variant parameters compiled to SQL over the node store, the default-model records, and
the response documents. The node's handler (``node.beacon``) and, later, the hub's Beacon
network build on these; nothing here touches a network or decides who may see what."""
