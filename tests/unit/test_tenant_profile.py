"""Tenant profiles: defaults, validation that names the field, the CLI's option handling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from jobcast.kafka import describe_validation_error
from jobcast_cli.profiles import ProfileOptionError, apply_changes, parse_utm
from schemas.platforms import Platform
from services.distributor.models import TenantProfile, default_utm
from services.distributor.profile import TenantProfileInput, profile_from_json, profile_to_json


def error_fields(data: dict[str, object]) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        TenantProfileInput.model_validate(data)
    return {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}


def test_a_tenant_without_a_profile_gets_working_defaults() -> None:
    profile = TenantProfile()
    assert (profile.language, profile.locale, profile.timezone) == ("en", "en_US", "UTC")
    assert (profile.hashtags, profile.footer, profile.default_image_url) == ((), "", None)
    assert (profile.require_approval, profile.update_policy) == (False, "edit")
    assert profile.attribution(Platform.FACEBOOK) == {
        "utm_source": "facebook",
        "utm_medium": "social",
    }
    assert profile.attribution(Platform.INSTAGRAM) == {
        "utm_source": "instagram",
        "utm_medium": "social",
    }
    assert TenantProfileInput().to_profile() == profile


def test_defaults_are_not_shared_between_profiles() -> None:
    first = TenantProfile()
    first.utm[Platform.FACEBOOK]["utm_source"] = "changed"
    assert TenantProfile().utm == default_utm()
    assert first.attribution(Platform.FACEBOOK) is not first.utm[Platform.FACEBOOK]


def test_input_is_normalised() -> None:
    profile = TenantProfileInput.model_validate(
        {
            "language": "id",
            "locale": "id-ID",
            "hashtags": ["BaliJobs", "#balijobs", "Lowongan Kerja Bali"],
            "footer": "  Ikuti kami  ",
            "default_image_url": "https://cdn.example.com/d.jpg",
            "timezone": "Asia/Makassar",
        }
    ).to_profile()
    assert profile.locale == "id_ID"
    assert profile.hashtags == ("#BaliJobs", "#LowonganKerjaBali")
    assert profile.footer == "Ikuti kami"
    assert profile.default_image_url == "https://cdn.example.com/d.jpg"


def test_utm_names_only_the_platforms_to_change() -> None:
    profile = TenantProfileInput.model_validate(
        {"utm": {"facebook": {"utm_source": "fb", "utm_campaign": "bali"}}}
    ).to_profile()
    assert profile.attribution(Platform.FACEBOOK) == {"utm_source": "fb", "utm_campaign": "bali"}
    assert profile.attribution(Platform.INSTAGRAM) == default_utm()[Platform.INSTAGRAM]
    off = TenantProfileInput.model_validate({"utm": {"instagram": {}}}).to_profile()
    assert off.attribution(Platform.INSTAGRAM) == {}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"language": "fr"}, "language"),
        ({"locale": "xx_QQ"}, "locale"),
        ({"locale": ""}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hashtags": ["!!!"]}, "hashtags"),
        ({"hashtags": [f"t{i}" for i in range(31)]}, "hashtags"),
        ({"footer": "x" * 501}, "footer"),
        ({"default_image_url": "not a url"}, "default_image_url"),
        ({"default_image_url": "ftp://cdn.example.com/a.jpg"}, "default_image_url"),
        ({"utm": {"twitter": {"utm_source": "x"}}}, "utm.twitter.[key]"),
        ({"utm": {"facebook": {"bad key": "x"}}}, "utm.facebook.bad key.[key]"),
        ({"utm": {"facebook": {"utm_source": ""}}}, "utm.facebook.utm_source"),
        ({"utm": {"facebook": {f"k{i}": "v" for i in range(11)}}}, "utm.facebook"),
        ({"update_policy": "delete"}, "update_policy"),
        ({"require_approval": "perhaps"}, "require_approval"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_input_names_the_field(data: dict[str, object], field: str) -> None:
    assert error_fields(data) == {field}


def test_json_round_trip() -> None:
    profile = TenantProfile(
        language="id",
        locale="id_ID",
        hashtags=("#BaliJobs",),
        footer="Ikuti @balijobs",
        default_image_url="https://cdn.example.com/d.jpg",
        utm={
            Platform.FACEBOOK: {"utm_source": "fb"},
            Platform.INSTAGRAM: {},
            Platform.THREADS: {"utm_source": "th"},
            Platform.LINKEDIN: {"utm_campaign": "hiring"},
        },
        require_approval=True,
        update_policy="ignore",
        timezone="Asia/Makassar",
    )
    data = profile_to_json(profile)
    assert data["utm"] == {
        "facebook": {"utm_source": "fb"},
        "instagram": {},
        "threads": {"utm_source": "th"},
        "linkedin": {"utm_campaign": "hiring"},
    }
    assert profile_from_json(data) == profile


def test_a_profile_built_in_code_is_validated_on_the_way_out() -> None:
    with pytest.raises(ValidationError, match="locale"):
        profile_to_json(TenantProfile(locale="nowhere"))


# --- the CLI's option handling -----------------------------------------------------------------


def test_utm_options_group_by_platform() -> None:
    assert parse_utm(
        ["facebook:utm_source=fb", "facebook: utm_campaign = bali ", "instagram:"]
    ) == {"facebook": {"utm_source": "fb", "utm_campaign": "bali"}, "instagram": {}}


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("utm_source=fb", "utm: 'utm_source=fb': expected PLATFORM:KEY=VALUE"),
        (":utm_source=fb", "utm: ':utm_source=fb': expected PLATFORM:KEY=VALUE"),
        ("facebook:utm_source", "utm.facebook: 'utm_source': expected KEY=VALUE"),
    ],
)
def test_unreadable_utm_options_name_the_field(option: str, message: str) -> None:
    with pytest.raises(ProfileOptionError) as caught:
        parse_utm([option])
    assert str(caught.value) == message


def test_changes_apply_on_top_of_the_stored_profile() -> None:
    current = TenantProfile(footer="keep me", hashtags=("#BaliJobs",))
    updated = apply_changes(
        current,
        {"language": "id", "utm": {"facebook": {"utm_source": "fb"}}, "hashtags": ["Kerja"]},
    )
    assert updated.footer == "keep me"
    assert updated.language == "id"
    assert updated.hashtags == ("#Kerja",)
    assert updated.attribution(Platform.FACEBOOK) == {"utm_source": "fb"}
    assert updated.attribution(Platform.INSTAGRAM) == current.attribution(Platform.INSTAGRAM)
    cleared = apply_changes(updated, {"hashtags": [], "default_image_url": None})
    assert cleared.hashtags == ()


def test_bad_changes_are_reported_by_field() -> None:
    with pytest.raises(ValidationError) as caught:
        apply_changes(TenantProfile(), {"locale": "xx_QQ", "update_policy": "never"})
    reason = describe_validation_error(caught.value)
    assert "locale: Value error, unknown locale 'xx_QQ'" in reason
    assert "update_policy: Input should be 'edit' or 'ignore'" in reason
