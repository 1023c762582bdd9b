"""Make C2PA-signed media whose provenance is known by construction.

A throwaway certificate authority and leaf signing certificate (ES256, P-256) are
generated with ``cryptography``; ``sign_file`` embeds a manifest that declares a
chosen ``digitalSourceType`` into any format c2pa-python can sign (JPEG, PNG,
WebP, MP4/MOV, WAV, MP3, ...). Two damage helpers then break a signed file in
the two ways the detector must tell apart: ``tamper_jpeg_pixels`` changes the
content and keeps the manifest (the hashes no longer match), ``corrupt_manifest``
flips bytes inside the manifest store itself.

Used by tests, the example-media script and benchmarks; never imported by a scan.
Nothing here touches the network: no timestamp authority, no remote manifests.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC_MEDIA = IPTC + "algorithmicMedia"
DIGITAL_CAPTURE = IPTC + "digitalCapture"

# Extension → MIME type c2pa signs with; the Builder needs the format spelled out.
_MIME_BY_SUFFIX = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".avi": "video/x-msvideo",
}


@dataclass(frozen=True, slots=True)
class TestCerts:
    """PEM files of a throwaway CA and the leaf certificate it issued for signing.

    ``ca_pem`` is what a verifier puts on its trust list; ``chain_pem`` (leaf then
    CA) and ``key_pem`` are what the signer uses.
    """

    ca_pem: Path
    chain_pem: Path
    key_pem: Path
    signer_common_name: str
    signer_organization: str


def make_test_certs(
    directory: str | Path,
    *,
    common_name: str = "unmask test signer",
    organization: str = "unmask tests",
    valid_days: int = 30,
) -> TestCerts:
    """Write a new CA and an ES256 leaf signing certificate as PEM files in ``directory``.

    The leaf carries what c2pa-rs checks on a claim-signing certificate: not a CA,
    ``digitalSignature`` key usage, an accepted extended key usage (emailProtection),
    key identifiers, and a validity window around now.

    Parameters
    ----------
    directory : path
        Created if missing; ``ca.pem``, ``chain.pem`` and ``signer-key.pem`` go there.
    common_name, organization : str
        The leaf's subject; readers report them as the signer's common name and issuer.
    valid_days : int, default=30
        Leaf validity after now (it also starts one day before now, to absorb clock skew).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    not_before = now - dt.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} CA"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=valid_days + 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    leaf = (
        x509.CertificateBuilder()
        .subject_name(leaf_name)
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        # c2pa-rs refuses anyExtendedKeyUsage and server/client auth; emailProtection
        # is on its default allowed list and is what the C2PA test certificates use.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem(cert: Any) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    certs = TestCerts(
        ca_pem=out / "ca.pem",
        chain_pem=out / "chain.pem",
        key_pem=out / "signer-key.pem",
        signer_common_name=common_name,
        signer_organization=organization,
    )
    certs.ca_pem.write_bytes(pem(ca))
    certs.chain_pem.write_bytes(pem(leaf) + pem(ca))
    certs.key_pem.write_bytes(
        leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certs


def _key_usage(*, cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def sign_file(
    src: str | Path,
    dst: str | Path,
    *,
    certs: TestCerts,
    digital_source_type: str | None = TRAINED_ALGORITHMIC_MEDIA,
    actions: Sequence[dict[str, Any]] | None = None,
    claim_generator: str = "unmask-testing",
    title: str | None = None,
    mime: str | None = None,
    thumbnail: bool = False,
    parent: str | Path | None = None,
) -> Path:
    """Write a copy of ``src`` to ``dst`` with an embedded, signed C2PA manifest.

    Parameters
    ----------
    src, dst : path
        Input media and where the signed copy goes (overwritten).
    certs : TestCerts
        From ``make_test_certs``.
    digital_source_type : str or None, default=trainedAlgorithmicMedia
        IPTC URI put on the ``c2pa.created`` action. None leaves it out, which
        C2PA 2 forbids: readers then report ``assertion.action.malformed``.
        Ignored when ``actions`` is given.
    actions : sequence of dict or None
        Explicit ``c2pa.actions`` entries, e.g. ``[{"action": "c2pa.edited"}]``.
    claim_generator : str
        Name recorded in ``claim_generator_info``.
    title : str or None
        Manifest title; defaults to ``dst``'s file name.
    mime : str or None
        Format to sign as; guessed from ``src``'s extension when None.
    thumbnail : bool, default=False
        Embed a claim thumbnail as real tools do. Off by default: on noise images
        it makes the manifest several hundred KB and slows tests down.
    parent : path or None
        A (usually signed) file ``src`` was edited from. It is added as the
        ``parentOf`` ingredient, its manifest joins the store, and the actions
        default to ``c2pa.opened`` of it followed by ``c2pa.edited``; this is the
        shape an editor such as Photoshop writes.

    Returns
    -------
    Path
        ``dst``.
    """
    import c2pa

    src, dst = Path(src), Path(dst)
    mime = mime or _MIME_BY_SUFFIX.get(src.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot tell the format of {src.name} from its extension; pass mime=")
    if actions is None and parent is not None:
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}, {"action": "c2pa.edited"}]
    elif actions is None:
        created: dict[str, Any] = {"action": "c2pa.created"}
        if digital_source_type:
            created["digitalSourceType"] = digital_source_type
        actions = [created]
    manifest = {
        "claim_generator_info": [{"name": claim_generator, "version": "1.0"}],
        "title": title or dst.name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": list(actions)}}],
    }
    settings = {
        # Offline and deterministic: no verification round trip after signing (it would
        # warn about our untrusted CA), no remote fetches, no automatic extra actions.
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {
            "thumbnail": {"enabled": bool(thumbnail)},
            "actions": {"auto_created_action": {"enabled": False}, "auto_opened_action": {"enabled": False}, "auto_placed_action": {"enabled": False}},
        },
    }
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, certs.chain_pem.read_bytes(), certs.key_pem.read_bytes(), None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Context.from_dict(settings) as context:
        builder = c2pa.Builder(manifest, context=context)
        if parent is not None:
            parent = Path(parent)
            parent_mime = _MIME_BY_SUFFIX.get(parent.suffix.lower(), mime)
            with open(parent, "rb") as fp:
                builder.add_ingredient({"title": parent.name, "relationship": "parentOf", "label": "parent"}, parent_mime, fp)
        with open(src, "rb") as fin, open(dst, "w+b") as fout:
            builder.sign(signer, mime, fin, fout)
    return dst


# --------------------------------------------------------------------------------------------
# damage after signing


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, marker, total length in bytes) of each JPEG segment before the scan data."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG (no SOI marker)")
    out, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG segment expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        out.append((i, marker, 2 + length))
        i += 2 + length
    return out


_APP11 = 0xEB  # JPEG carries C2PA's JUMBF manifest store in APP11 segments


def corrupt_manifest(src: str | Path, dst: str | Path, *, where: str = "header") -> Path:
    """Copy a C2PA-signed JPEG with bytes changed inside its manifest store.

    Parameters
    ----------
    where : {"header", "assertion"}, default="header"
        ``"header"`` breaks the JUMBF superbox header so the store cannot be parsed
        at all (what a buggy writer or a truncated copy leaves). ``"assertion"``
        changes one letter of the declared ``digitalSourceType`` URI, so the store
        still parses but the signed hash of the actions assertion no longer matches
        (what rewriting a declaration after signing leaves).
    """
    data = bytearray(Path(src).read_bytes())
    app11 = [(o, n) for o, m, n in _jpeg_segments(bytes(data)) if m == _APP11]
    if not app11:
        raise ValueError(f"{Path(src).name} has no APP11 (JUMBF) segment to corrupt")
    if where == "header":
        offset = app11[0][0]
        # Segment layout: FF EB, length (2), "JP" CI (2), En (2), Z sequence (4), then the
        # JUMBF superbox: LBox (4), TBox "jumb" (4). The box type sits 16 bytes in.
        start = offset + 16
        if bytes(data[start : start + 4]) != b"jumb":
            raise ValueError("APP11 segment does not start a JUMBF superbox where expected")
        for k in range(4):
            data[start + k] ^= 0xFF
    elif where == "assertion":
        needle = b"digitalsourcetype/"
        hits = [data.find(needle, o, o + n) for o, n in app11]
        hits = [h for h in hits if h >= 0]
        if not hits:
            raise ValueError(f"{Path(src).name} declares no digitalSourceType to rewrite")
        # Same length, still valid CBOR text: only the assertion's hash can notice.
        data[hits[0] + len(needle)] ^= 0x20  # flip the case of the first letter of the type
    else:
        raise ValueError(f"where must be 'header' or 'assertion', got {where!r}")
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def tamper_jpeg_pixels(src: str | Path, dst: str | Path, *, box_px: int = 32, quality: int = 92) -> Path:
    """Paint a white square on a signed JPEG, re-encode it, and put the original manifest back.

    This is what a careless or malicious editor does: the content changes while the
    signed manifest, which still describes the old pixels, is carried over unchanged.
    """
    from PIL import Image

    data = Path(src).read_bytes()
    segments = _jpeg_segments(data)
    manifest_segments = b"".join(data[o : o + n] for o, m, n in segments if m == _APP11)
    if not manifest_segments:
        raise ValueError(f"{Path(src).name} has no APP11 (JUMBF) segment to keep")
    im = Image.open(io.BytesIO(data)).convert("RGB")
    arr = np.array(im)
    arr[:box_px, :box_px] = 255
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    fresh = buf.getvalue()
    # APP11 goes straight after SOI, where c2pa put it and where readers look first.
    Path(dst).write_bytes(fresh[:2] + manifest_segments + fresh[2:])
    return Path(dst)


# --------------------------------------------------------------------------------------------
# plain media to sign
