"""WSGI entry of the sharing gateway's own server (``tongban serve_gateway``, granian): the platform's
application behind ``exchange.server.GatewayOnly``."""

from tongban.exchange.server import GatewayOnly
from tongban.wsgi import application as platform

application = GatewayOnly(platform)
