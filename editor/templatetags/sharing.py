from django import template

from ..models import Membership

register = template.Library()


@register.inclusion_tag("editor/_sharing.html", takes_context=True)
def sharing_panel(context, document):
    """The list of people a document is shared with, and the owner's form to change it."""
    user = context["request"].user
    is_owner = document.owner_id == user.pk
    memberships = (
        Membership.objects.filter(document=document).select_related("user").order_by("user__username")
        if is_owner
        else []
    )
    return {
        "document": document,
        "is_owner": is_owner,
        "memberships": memberships,
        "roles": Membership.Role.choices,
        "csrf_token": context.get("csrf_token"),
    }
