from odoo.http import dispatch_rpc, request

from odoo.addons.base.controllers import rpc

from ..tools import xmlrpc_decode
from ..tools.batch import cyclic_gc_paused


class Q2cRPC(rpc.RPC):
    """XML-RPC (``/xmlrpc``, ``/xmlrpc/2``) with a faster decoding of the request.

    Usage events arrive by thousands per call; the standard library's decoding of a request
    (``xmlrpc.client.loads``) cost more CPU than validating and storing the events.
    ``xmlrpc_decode.loads`` returns exactly what it returns (for anything but the common shape
    of a call it is the standard library that decodes, see the module). The rest is core's:
    the same dispatch, the same response, the same faults.

    Odoo serves these routes through the database's routing map when the request is bound to
    a database (one database, a ``--db-filter`` selecting one, a session on one), so this
    applies there; a server answering for several databases without a filter decodes with
    the standard library, as without this module.
    """

    def _xmlrpc(self, service):
        rpc._check_request()
        # A request of thousands of usage events decodes to as many dicts: no cycles among
        # them (see cyclic_gc_paused).
        with cyclic_gc_paused():
            params, method = xmlrpc_decode.loads(request.httprequest.get_data())
        result = dispatch_rpc(service, method, params)
        return rpc.dumps((result,))
