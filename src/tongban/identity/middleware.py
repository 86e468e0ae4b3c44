"""Acting for an organisation: the choice lives in the session and is re-checked on every request."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .models import Organisation
from .selectors import can_act_for

SESSION_KEY = "tongban_acting_org"


class ActingOrganisationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.acting_organisation = None
        org_uuid = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if org_uuid and request.user.is_authenticated:
            org = Organisation.objects.filter(uuid=org_uuid).first()
            # An agency revoked or expired since the switch ends the acting at once.
            if org is not None and can_act_for(request.user, org):
                request.acting_organisation = org
            else:
                del request.session[SESSION_KEY]
        return self.get_response(request)
