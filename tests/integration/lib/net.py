# SPDX-License-Identifier: ISC
#
# Loopback helpers shared by the integration tests (imported with
# tests/integration/lib on sys.path; run.sh does not run this folder).
import socket


def free_port(kind=socket.SOCK_STREAM):
    """A port on 127.0.0.1 free a moment ago, TCP or (SOCK_DGRAM) UDP."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
