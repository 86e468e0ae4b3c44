"""The one JSON API of the platform; OpenAPI document at /api/openapi.json, docs at /api/docs."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from tongban.cases.api import router as cases_registration_router
from tongban.catalog.api import govstack as registration_router
from tongban.catalog.api import router as catalog_router
from tongban.core.api import router as core_router
from tongban.exchange.api import router as exchange_router
from tongban.identity.api import router as identity_router
from tongban.licences.api import router as licences_router
from tongban.registries.api import router as registries_router

api = NinjaAPI(
    title="Tongban 通办 API",
    version="1",
    description="一网通办平台接口。系统接入使用 OAuth 2 客户端凭证（/o/token/），单点登录使用 OpenID Connect。",
    urls_namespace="api",
)
# The busiest routes first: Django tries URL patterns in order, and these are called by other systems at
# hundreds per second (the OpenAPI document lists tags in this order too).
# Data sharing: catalogue, gateway, subscriptions, audit log proofs.
api.add_router("/exchange", exchange_router)
# GovStack Registration Building Block: services and eForms, applications, documents, tasks.
api.add_router("/registration", registration_router)
api.add_router("/registration", cases_registration_router)
api.add_router("/core", core_router)
api.add_router("/identity", identity_router)
api.add_router("/catalog", catalog_router)
api.add_router("/licences", licences_router)
# GovStack Digital Registries BB (data and database endpoints).
api.add_router("/registries", registries_router)


@api.exception_handler(RequestDataTooBig)
def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return api.create_response(
        request, {"code": "too_large", "message": "request body over the 5 MB limit"}, status=413
    )
