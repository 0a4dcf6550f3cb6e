"""Photo uploads: stored without EXIF (no GPS, no camera), upright, limited, private when sensitive."""

from __future__ import annotations

import io

from PIL import Image

from tests.api.report_helpers import body
from tests.conftest import STAFF
from tests.images import png

GPS_IFD, MAKE, MODEL, ORIENTATION = 0x8825, 0x010F, 0x0110, 0x0112



def phone_jpeg(orientation: int = 1) -> bytes:
    """A 40×20 JPEG with the camera, GPS position and orientation a phone writes."""
    img = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[ORIENTATION] = "PhoneCo", "X100", orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (41.0, 7.0, 12.5), 3: "E", 4: (122.0, 4.0, 30.0)})
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD), "fixture must carry GPS"
    return data


def upload(client, rid, data, name="p.jpg", token=None, headers=None):
    """Upload as the case's reporter (its case token) unless ``headers`` say otherwise."""
    h = headers if headers is not None else {"X-Case-Token": token}
    return client.post(f"/api/v1/reports/{rid}/photos", files={"photo": (name, data, "image/jpeg")}, headers=h)


def filed(client, payload) -> str:
    """File ``payload``; returns its case token."""
    r = client.post("/api/v1/reports", json=payload)
    assert r.status_code == 201, r.text
    return r.json()["case_token"]


def test_upload_strips_all_metadata(client, tiny, tmp_path, monkeypatch):
    client.app.state.api_settings.media_dir = tmp_path
    payload = body()
    token = filed(client, payload)
    r = upload(client, payload["id"], phone_jpeg(orientation=6), token=token)  # 6: rotate 90° to display upright
    assert r.status_code == 201, r.text
    (url,) = r.json()["photos"]
    stored = client.get(url)
    assert stored.status_code == 200
    img = Image.open(io.BytesIO(stored.content))
    assert len(img.getexif()) == 0 and "exif" not in img.info and "icc_profile" not in img.info
    assert b"PhoneCo" not in stored.content and b"X100" not in stored.content
    assert img.size == (20, 40), "orientation is applied to the pixels before the tag is dropped"
    trail = client.get(f"/api/v1/reports/{payload['id']}", headers=STAFF).json()["trail"]
    assert trail[-1]["action"] == "photo"
    # The same photo again is the same file, not a second one.
    assert upload(client, payload["id"], phone_jpeg(orientation=6), token=token).json()["photos"] == [url]


def test_upload_rules(client, tiny, tmp_path):
    client.app.state.api_settings.media_dir = tmp_path
    payload = body()
    token = filed(client, payload)
    r = upload(client, payload["id"], b"not an image", name="x.jpg", token=token)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "photo"
    for i in range(9):
        assert upload(client, payload["id"], png(colour=(i * 20, 0, 0)), name=f"{i}.png", token=token).status_code == 201
    r = upload(client, payload["id"], phone_jpeg(), token=token)
    assert r.status_code == 422 and "at most 9" in r.json()["error"]["message"]
    assert client.post("/api/v1/reports/00000000-0000-0000-0000-000000000000/photos",
                       files={"photo": ("p.jpg", phone_jpeg(), "image/jpeg")}, headers=STAFF).status_code == 404
    # Without the case token (or a staff token) nobody adds photos to a case.
    assert upload(client, payload["id"], phone_jpeg(), headers={}).status_code == 401
    assert upload(client, payload["id"], phone_jpeg(), token="wrong-token").status_code == 401


def test_sensitive_case_photos_are_staff_only(client, tiny, tmp_path):
    client.app.state.api_settings.media_dir = tmp_path
    payload = body(category="10", subcategory="1002")
    token = filed(client, payload)
    upload(client, payload["id"], phone_jpeg(), token=token)
    staff_view = client.get(f"/api/v1/reports/{payload['id']}", headers=STAFF).json()
    (photo,) = staff_view["photos"]
    assert client.get(f"/api/v1/reports/{payload['id']}").json()["photos"] == []  # the public view does not list it
    assert client.get(photo).status_code == 404
    assert client.get(photo, headers=STAFF).status_code == 200
    assert client.get(photo, headers={"X-Case-Token": token}).status_code == 200  # its reporter sees it
    assert client.get(f"/api/v1/reports/{payload['id']}/photos/..%2F..%2Fetc%2Fpasswd").status_code == 404
