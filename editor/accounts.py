"""Sign-up, which a setting can turn off (sign-in and sign-out are Django's own views)."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import Http404
from django.shortcuts import redirect, render


def signup(request):
    """Create an account and sign in; 404 when COLLAB_SIGNUP_ENABLED is off."""
    if not settings.COLLAB_SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})
