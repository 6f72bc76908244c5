"""The App screens: an App's row with its write-only password, and the service catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html

from appws.accounts import is_settings_app
from appws.live_sessions import live_session_count
from appws.models import App, app_name_list

if TYPE_CHECKING:
    AppForm = forms.ModelForm[App]
    AppModelAdmin = admin.ModelAdmin[App]
else:  # Django's classes are not subscriptable at run time
    AppForm = forms.ModelForm
    AppModelAdmin = admin.ModelAdmin


class AppAdminForm(AppForm):
    """The App form, with a write-only password field."""

    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    check_logins = forms.CharField(
        label="May check the passwords of",
        required=False,
        help_text="App names, separated by commas: sessions of this App may verify their "
        "passwords with AppCheckLogin (a PBX's manager checking its App objects). Only Apps "
        "the same App Service serves can be checked. Empty: none (the default).",
    )

    class Meta:
        model = App
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = self.instance.check_logins
        if not self.is_bound and isinstance(names, list):
            self.initial["check_logins"] = ", ".join(str(name) for name in names)
        field = self.fields["password"]
        if self.instance.pk is None:
            field.required = True
            field.help_text = (
                "The shared secret of this App, as configured in the PBX's App object. "
                "It is stored encrypted and never shown again."
            )
        else:
            field.help_text = (
                "Leave empty to keep the current password. It is stored encrypted and never shown."
            )

    def clean_check_logins(self) -> list[str]:
        text = str(self.cleaned_data.get("check_logins") or "")
        names = [name.strip() for name in text.split(",") if name.strip()]
        try:
            return app_name_list(names)
        except ValidationError as error:
            raise forms.ValidationError(
                f"{error.messages[0]} Separate App names with commas."
            ) from None

    def save(self, commit: bool = True) -> App:
        password = self.cleaned_data.get("password")
        if password:
            self.instance.set_password(password)
        app: App = super().save(commit=commit)
        return app


@admin.register(App)
class AppAdmin(AppModelAdmin):
    form = AppAdminForm
    change_list_template = "admin/appws/app/change_list.html"
    services_template = "admin/appws/app/services.html"
    list_display = [
        "name",
        "title",
        "enabled",
        "hidden",
        "domain",
        "live_sessions",
        "updated",
    ]
    list_filter = ["enabled", "hidden"]
    search_fields = ["name", "title", "domain"]
    filter_horizontal = ["permissions"]
    readonly_fields = ["access", "created", "updated"]
    fieldsets = [
        (None, {"fields": ["name", "title", "password", "enabled", "hidden", "domain"]}),
        ("Who may open it", {"fields": ["access"]}),
        ("What its sessions may do", {"fields": ["permissions", "check_logins", "pbx_rate_limit"]}),
        (
            "AppInfo",
            {
                "classes": ["collapse"],
                "fields": ["info_apis", "service_apis"],
                "description": "JSON objects sent in AppInfoResult: API name to object.",
            },
        ),
        ("History", {"fields": ["created", "updated"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: App | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # an App being added has no history to show
            return [entry for entry in fieldsets if entry[0] != "History"]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[App]:
        queryset = super().get_queryset(request)
        return queryset.annotate(live_session_count=live_session_count())

    @admin.display(description="Live sessions", ordering="live_session_count")
    def live_sessions(self, obj: App) -> int:
        return int(getattr(obj, "live_session_count", 0))

    @admin.display(description="Access permission")
    def access(self, obj: App | None) -> str:
        where = self._grant_links()
        if obj is None or obj.pk is None or obj.access_permission_id is None:
            return format_html(
                "Saving the App creates its access permission "
                "<code>appws.open_&lt;name&gt;</code>. Then grant it to users or groups "
                "{}.",
                where,
            )
        return format_html(
            "<code>{}</code> ({})<br>Grant it to the users and groups who may open this App {}.",
            obj.access_permission_name,
            obj.access_permission.name if obj.access_permission else "",
            where,
        )

    def _grant_links(self) -> str:
        try:
            users = reverse(f"{self.admin_site.name}:auth_user_changelist")
            groups = reverse(f"{self.admin_site.name}:auth_group_changelist")
        except NoReverseMatch:
            return "in the user and group admin"
        return format_html(
            'in the <a href="{}">user</a> and <a href="{}">group</a> admin', users, groups
        )

    def formfield_for_manytomany(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField[Any] | None:
        if db_field.name == "permissions":
            # Not the Apps' access permissions: those say who may open an App (granted to
            # users and groups), not what its sessions may do.
            kwargs["queryset"] = db_field.remote_field.model.objects.filter(
                appws_app__isnull=True
            ).select_related("content_type")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "GET":
            app = self.get_object(request, object_id)
            if app is not None and is_settings_app(app.name):
                self.message_user(
                    request,
                    f"App {app.name!r} is also defined in the APPWS['APPS'] setting, which "
                    "takes precedence: logins use the password, domain and permissions "
                    "from the settings, not this row.",
                    messages.WARNING,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    # -- the service catalogue ------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "services/",
                self.admin_site.admin_view(self.services_view),
                name="{}_{}_services".format(*info),
            )
        ]
        return extra + super().get_urls()

    def _app_row(self, name: str, rows: dict[str, Any], can_view: bool) -> dict[str, str]:
        """Where App ``name``'s password comes from, with a link to its row."""
        url = ""
        if is_settings_app(name):
            source = "settings"
        elif name in rows:
            source = "database"
            if can_view:
                url = reverse(
                    f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_change",
                    args=[rows[name]],
                )
        else:
            source = "not configured: logins fail"
        return {"name": name, "source": source, "url": url}

    def services_view(self, request: HttpRequest) -> HttpResponse:
        """Show the App Services the site routes, with their Apps and handlers."""
        from appws.catalogue import services

        error = ""
        try:
            entries = services()
        except ImproperlyConfigured as problem:
            entries, error = [], str(problem)
        can_view = self.has_view_permission(request)
        names = {name for entry in entries for name in entry.apps}
        rows = dict(App.objects.filter(name__in=names).values_list("name", "pk"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Service catalogue",
            "subtitle": None,
            "opts": self.opts,
            "services": [
                {
                    "entry": entry,
                    "apps": [self._app_row(name, rows, can_view) for name in entry.apps],
                }
                for entry in entries
            ],
            "error": error,
            "has_view_apps": can_view,
        }
        return TemplateResponse(request, self.services_template, context)
