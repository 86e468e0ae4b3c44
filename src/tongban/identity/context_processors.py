from django.http import HttpRequest


def acting(request: HttpRequest) -> dict[str, object]:
    return {"acting_organisation": getattr(request, "acting_organisation", None)}
