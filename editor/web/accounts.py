"""Sign-up, which a setting can turn off, and password change (sign-in and sign-out
are Django's own views)."""

from django.conf import settings
from django.contrib.auth import get_user_model, login, views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from ..domain import events, usernames


class SignupForm(UserCreationForm):
    """Django's sign-up form, refusing a name that looks like someone else's."""

    def clean_username(self) -> str:
        name = super().clean_username()  # None when taken (in any case)
        if name is None:
            return name
        name = usernames.normalise(name)
        # Every existing name is compared: sign-up is rare, and the check is in memory.
        existing = get_user_model().objects.values_list("username", flat=True)
        if usernames.look_alike(name, existing) is not None:
            raise ValidationError("This name looks too much like an existing one; choose another.")
        return name


def signup(request):
    """Create an account and sign in; 404 when COLLAB_SIGNUP_ENABLED is off."""
    if not settings.COLLAB_SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/signup.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, which also tells open sockets at once: those of the
    changing session stay open (its key rotates), every other session's close."""

    def form_valid(self, form):
        old_key = self.request.session.session_key
        response = super().form_valid(form)  # saves the password and rotates the key
        # Saved now, not at the end of the response, so that a check of the sockets in
        # between finds the new key with the new password's hash.
        self.request.session.save()
        events.announce_password_changed(
            user_id=self.request.user.pk,
            old_session_key=old_key,
            new_session_key=self.request.session.session_key,
        )
        return response


password_change = PasswordChangeView.as_view()
