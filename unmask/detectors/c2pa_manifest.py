"""C2PA Content Credentials: read, verify and explain the manifest a file carries.

The manifest store is read and validated offline by c2pa-python (c2pa-rs): no
remote manifests are fetched and no OCSP queries are made. Trust is judged only
against the PEM bundle from ``ScanOptions.resolved_trust_anchors()``; without one,
every signer is "not on a trust list (none configured)".

How validation outcomes become signals (first rule that applies wins)
----------------------------------------------------------------------
1. Manifest store present but unparseable → NEUTRAL 0.5, "C2PA data present but
   unreadable: …". Not TAMPERED: the usual causes are a writer bug or a manifest
   newer than the bundled c2pa-rs understands, neither of which says anything about
   the pixels; and a forger gains nothing by breaking a manifest they could simply
   strip (absence of credentials is not evidence either way).
2. A content-binding hash fails (``assertion.dataHash.mismatch``, ``bmffHash``,
   ``boxesHash``, ``collectionHash``) → TAMPERED STRONG 0.9: the content was
   edited after signing, whatever the manifest declares (the declaration is listed).
3. The signed record itself was altered (``claimSignature.mismatch``,
   ``assertion.hashedURI.mismatch``, ...) → TAMPERED MODERATE 0.85: someone rewrote
   the credentials after signing; tools that merely drop metadata strip the whole
   store, they do not leave a store whose bytes no longer match its signature.
4. Any other validation failure (malformed assertion, unsupported algorithm) →
   NEUTRAL 0.5: the credentials cannot be verified, so their declarations are unused.
5. AI generation declared (``digitalSourceType`` trainedAlgorithmicMedia,
   compositeWithTrainedAlgorithmicMedia, algorithmicMedia, compositeSynthetic, in the
   active manifest or an ingredient's) → GENERATOR_DECLARED, DECISIVE 0.99 when the
   signer is trusted, else STRONG 0.95 (a self-signed AI declaration is still a
   declaration nobody has reason to forge against themselves).
6. Camera capture declared (digitalCapture, computationalCapture) in the active
   manifest → CAPTURE_VERIFIED, DECISIVE 0.03 when the signer is trusted, else WEAK
   0.4 (anyone can self-sign "captured by a camera").
7. Otherwise → EDITED 0.5 when editing actions are recorded, else NEUTRAL 0.5.

This module imports c2pa lazily so that listing detectors stays fast.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmask.core import Evidence, Finding, Signal, Strength
from unmask.detectors._base import DetectorCard, Stopwatch, not_applicable, scored
from unmask.errors import UsageError

if TYPE_CHECKING:
    from unmask.config import ScanOptions
    from unmask.media import MediaItem

# Probabilities fusion expects for each provenance signal and strength (see unmask/fusion).
P_DECLARED_TRUSTED = 0.99
P_DECLARED_UNTRUSTED = 0.95
P_CONTENT_TAMPERED = 0.9
P_RECORD_ALTERED = 0.85
P_CAPTURE_TRUSTED = 0.03
P_CAPTURE_UNTRUSTED = 0.4
P_NEUTRAL = 0.5

# IPTC digital source types (http://cv.iptc.org/newscodes/digitalsourcetype/), by local name.
_SYNTHETIC_SOURCES = {
    "trainedAlgorithmicMedia": "AI-generated",
    "compositeWithTrainedAlgorithmicMedia": "partly AI-generated",
    "algorithmicMedia": "algorithmically generated",
    "compositeSynthetic": "a composite with synthetic elements",
}
_CAPTURE_SOURCES = {
    "digitalCapture": "a camera capture",
    "computationalCapture": "a camera capture with computational processing",
}

# Failure codes, grouped by what they say about the file (C2PA 2.x validation codes).
_CONTENT_BINDING_FAILURES = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.boxesHash.unknownBox",
        "assertion.collectionHash.mismatch",
        "assertion.collectionHash.incorrectFileCount",
    }
)
_RECORD_ALTERED_FAILURES = frozenset(
    {
        "claimSignature.mismatch",
        "claimSignature.missing",
        "assertion.hashedURI.mismatch",
        "hashedURI.mismatch",
        "assertion.missing",
        "assertion.undeclared",
        "assertion.outsideManifest",
        "assertion.action.ingredientMismatch",
        "timeStamp.mismatch",
    }
)
# About the certificate, not the bytes: they decide trust, never tampering.
_CREDENTIAL_PREFIXES = ("signingCredential.", "timeStamp.untrusted", "timeStamp.outsideValidity", "claimSignature.outsideValidity")

# Actions that open, create or repackage without changing what the content shows.
_NON_EDITORIAL_ACTIONS = frozenset(
    {
        "c2pa.created",
        "c2pa.opened",
        "c2pa.published",
        "c2pa.transcoded",
        "c2pa.repackaged",
        "c2pa.converted",
        "c2pa.edited.metadata",
        "c2pa.watermarked",
    }
)

_MAX_INGREDIENT_DEPTH = 8  # provenance chains deeper than this are cut short (cycles, hostile files)


def create(card: DetectorCard, options: "ScanOptions") -> "C2paDetector":
    """Build the detector; raises ``UsageError`` when the configured trust anchors are unusable."""
    anchors = options.resolved_trust_anchors()
    anchors_pem: str | None = None
    if anchors:
        path = Path(anchors).expanduser()
        try:
            anchors_pem = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise UsageError(
                f"C2PA trust anchors {anchors}: no such file",
                hint="pass a PEM bundle of CA certificates (--trust-anchors or UNMASK_C2PA_TRUST_ANCHORS)",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"C2PA trust anchors {anchors}: cannot be read as PEM text ({exc})") from exc
        if "-----BEGIN CERTIFICATE-----" not in anchors_pem:
            raise UsageError(
                f"C2PA trust anchors {anchors} hold no PEM certificate",
                hint="the file must contain one or more '-----BEGIN CERTIFICATE-----' blocks",
            )
        # c2pa-rs silently skips certificates it cannot parse, which would leave every
        # signer untrusted without a word; parse them here to fail loudly instead.
        from cryptography import x509

        try:
            x509.load_pem_x509_certificates(anchors_pem.encode("ascii"))
        except ValueError as exc:
            raise UsageError(f"C2PA trust anchors {anchors}: a certificate in the bundle is broken ({exc})") from exc
    return C2paDetector(card, trust_anchors_pem=anchors_pem, trust_anchors_source=str(anchors) if anchors else None)


class C2paDetector:
    """Reads and verifies a file's C2PA manifest store; one ``Finding`` per file.

    Parameters
    ----------
    card : DetectorCard
    trust_anchors_pem : str or None
        PEM text of the CA certificates whose signatures count as trusted.
    trust_anchors_source : str or None
        Where that PEM came from, quoted in evidence.
    """

    def __init__(self, card: DetectorCard, *, trust_anchors_pem: str | None = None, trust_anchors_source: str | None = None) -> None:
        self.card = card
        self.trust_anchors_pem = trust_anchors_pem
        self.trust_anchors_source = trust_anchors_source
        self._context: Any = None
        self._lock = threading.Lock()

    # -- c2pa plumbing ------------------------------------------------------------------------
    def _c2pa_context(self) -> Any:
        """One c2pa Context per detector: settings are parsed once, then shared by every read."""
        with self._lock:
            if self._context is None:
                import c2pa

                settings: dict[str, Any] = {
                    # Offline by design: a scan never opens a socket (see STYLE.md §8).
                    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True},
                }
                if self.trust_anchors_pem:
                    # trust_anchors, not user_anchors: the configured bundle is the whole list.
                    settings["trust"] = {"trust_anchors": self.trust_anchors_pem}
                try:
                    self._context = c2pa.Context.from_dict(settings)
                except c2pa.C2paError as exc:
                    raise UsageError(
                        f"C2PA trust anchors {self.trust_anchors_source}: rejected by c2pa ({exc})",
                        hint="the bundle must hold valid X.509 CA certificates in PEM form",
                    ) from exc
            return self._context

    def _read_store(self, path: Path, mime: str) -> tuple[dict[str, Any] | None, str | None]:
        """(manifest store as a dict, None), (None, None) when there is none, or (None, error text)."""
        import c2pa

        context = self._c2pa_context()
        try:
            with open(path, "rb") as fh, c2pa.Reader(mime, fh, context=context) as reader:
                text = reader.json()
        except c2pa.C2paError.ManifestNotFound:
            return None, None
        except c2pa.C2paError.RemoteManifest:
            raise  # the caller reports it: there is a manifest, just not in the file
        except c2pa.C2paError as exc:
            return None, _clean_error(exc)
        try:
            store = json.loads(text)
        except ValueError as exc:
            return None, f"the manifest store is not valid JSON ({exc})"
        if not isinstance(store, dict):
            return None, "the manifest store has an unexpected shape"
        return store, None

    # -- the detector -------------------------------------------------------------------------
    def analyze(self, item: "MediaItem") -> Finding:
        """Read the file's Content Credentials and say what they establish."""
        import c2pa

        watch = Stopwatch()
        card = self.card
        mime = item.info.mime.split(";")[0].strip().lower()
        if mime not in c2pa.Reader.get_supported_mime_types():
            return not_applicable(
                card,
                "unsupported-format",
                f"C2PA Content Credentials cannot be embedded in {item.info.format.upper()} files.",
                evidence=(Evidence("Format", item.info.format),),
            )
        with watch.stage("read"):
            try:
                store, error = self._read_store(item.path, mime)
            except c2pa.C2paError.RemoteManifest as exc:
                # unmask never fetches: a remote manifest is out of reach, not evidence.
                return not_applicable(
                    card, "remote-manifest", f"The Content Credentials are stored online and unmask works offline ({_clean_error(exc)})."
                )
        if store is None and error is None:
            return not_applicable(card, "no-manifest", "No C2PA Content Credentials in this file.", timings_ms=dict(watch.timings_ms))
        if store is None:
            return scored(
                card,
                P_NEUTRAL,
                f"C2PA data present but unreadable: {error}.",
                signal=Signal.NEUTRAL,
                evidence=(Evidence("Manifest store", "present but unreadable", note=error),),
                timings_ms=dict(watch.timings_ms),
            )
        with watch.stage("interpret"):
            facts = _Facts.from_store(store)
            finding = self._judge(facts, item)
        return replace(finding, timings_ms=dict(watch.timings_ms))

    def _judge(self, facts: "_Facts", item: "MediaItem") -> Finding:
        card = self.card
        kind = item.info.kind.value
        trusted = facts.trusted
        trust_text = self._trust_text(facts)
        evidence = self._evidence(facts, trust_text)
        signer = facts.signer_text
        ai = facts.synthetic_declarations
        declared = _declared_text(facts)

        content_failures = [c for c in facts.failure_codes if c in _CONTENT_BINDING_FAILURES]
        if content_failures:
            also = f"; they declared it {declared}" if declared else ""
            return scored(
                card,
                P_CONTENT_TAMPERED,
                f"The {kind} was edited after signing: the Content Credentials signed by {signer} no longer match the content "
                f"({', '.join(_unique(content_failures))}){also}.",
                signal=Signal.TAMPERED,
                strength=Strength.STRONG,
                evidence=evidence,
            )
        record_failures = [c for c in facts.failure_codes if c in _RECORD_ALTERED_FAILURES]
        if record_failures:
            claims = f"what they claim ({declared}) cannot" if declared else "nothing they say can"
            return scored(
                card,
                P_RECORD_ALTERED,
                f"The Content Credentials were altered after signing ({', '.join(_unique(record_failures))}), "
                f"so {claims} be relied on.",
                signal=Signal.TAMPERED,
                strength=Strength.MODERATE,
                evidence=evidence,
            )
        other_failures = [c for c in facts.failure_codes if not c.startswith(_CREDENTIAL_PREFIXES)]
        if not facts.failure_codes and facts.validation_state == "Invalid":
            other_failures = ["validation state Invalid without a failure code"]
        if other_failures:
            return scored(
                card,
                P_NEUTRAL,
                f"Content Credentials are present but could not be verified ({', '.join(_unique(other_failures))}); "
                "their declarations were not used.",
                signal=Signal.NEUTRAL,
                evidence=evidence,
            )
        if ai:
            what = ai[0]
            if what.in_active:
                claim = f"this {kind} {what.meaning} ({what.name}, made with {facts.generator_text})"
            else:
                claim = f"this {kind} edited from {what.meaning} material ({what.name}, in the credentials of an ingredient)"
            if trusted:
                return scored(
                    card,
                    P_DECLARED_TRUSTED,
                    f"Content Credentials signed by {signer}, a trusted signer, declare {claim}.",
                    signal=Signal.GENERATOR_DECLARED,
                    strength=Strength.DECISIVE,
                    evidence=evidence,
                )
            return scored(
                card,
                P_DECLARED_UNTRUSTED,
                f"Content Credentials declare {claim}; the signature is valid but the signer {signer} is {trust_text}.",
                signal=Signal.GENERATOR_DECLARED,
                strength=Strength.STRONG,
                evidence=evidence,
            )
        capture = [d for d in facts.declarations if d.in_active and d.name in _CAPTURE_SOURCES]
        if capture:
            what = capture[0]
            if trusted:
                return scored(
                    card,
                    P_CAPTURE_TRUSTED,
                    f"Content Credentials signed by {signer}, a trusted signer, vouch that this {kind} is {what.meaning} "
                    f"({what.name}) and the content is unchanged since signing.",
                    signal=Signal.CAPTURE_VERIFIED,
                    strength=Strength.DECISIVE,
                    evidence=evidence,
                )
            return scored(
                card,
                P_CAPTURE_UNTRUSTED,
                f"Content Credentials declare this {kind} {what.meaning} ({what.name}) and the content matches them, "
                f"but the signer {signer} is {trust_text}, so anyone could have made that claim.",
                signal=Signal.CAPTURE_VERIFIED,
                strength=Strength.WEAK,
                evidence=evidence,
            )
        edits = [a for a in facts.actions if a.action not in _NON_EDITORIAL_ACTIONS]
        if edits:
            origin = f" of content declared as {declared}" if declared else " and declare no AI generation or camera capture"
            return scored(
                card,
                P_NEUTRAL,
                f"Content Credentials from {facts.generator_text} record edits ({', '.join(_unique(a.action for a in edits))})"
                f"{origin}; signer {signer} is {trust_text}.",
                signal=Signal.EDITED,
                evidence=evidence,
            )
        origin = f" declare the content {declared}" if declared else " declare no AI generation, camera capture or edits"
        return scored(
            card,
            P_NEUTRAL,
            f"Content Credentials from {facts.generator_text}{origin}; signer {signer} is {trust_text}.",
            signal=Signal.NEUTRAL,
            evidence=evidence,
        )

    def _trust_text(self, facts: "_Facts") -> str:
        problems = [c for c in facts.failure_codes if c.startswith(_CREDENTIAL_PREFIXES) and c != "signingCredential.untrusted"]
        if facts.trusted:
            return "trusted (on the configured trust list)"
        if self.trust_anchors_pem is None:
            text = "not on a trust list (none configured)"
        else:
            text = f"not on the configured trust list ({self.trust_anchors_source})"
        if problems:
            text += f", and its certificate failed checks ({', '.join(_unique(problems))})"
        return text

    def _evidence(self, facts: "_Facts", trust_text: str) -> tuple[Evidence, ...]:
        sig = facts.signature
        items = [
            Evidence("Active manifest", facts.label),
            Evidence("Claim generator", facts.generator_text),
            Evidence("Title", facts.title),
            Evidence("Signer (common name)", sig.get("common_name")),
            Evidence("Signer issuer (organisation)", sig.get("issuer")),
            Evidence(
                "Signing time",
                sig.get("time"),
                note=None if sig.get("time") else "no time-stamp in the signature; only a trusted time-stamp proves when it was signed",
            ),
            Evidence("Signature algorithm", sig.get("alg")),
            Evidence("Actions", [a.describe() for a in facts.actions]),
            Evidence("digitalSourceType", _unique(d.uri for d in facts.declarations if d.in_active)),
            Evidence("Ingredients", facts.ingredient_count),
        ]
        from_ingredients = _unique(d.uri for d in facts.declarations if not d.in_active)
        if from_ingredients:
            items.append(Evidence("digitalSourceType in ingredients", from_ingredients))
        items += [
            Evidence("Validation state", facts.validation_state),
            Evidence("Validation failures", list(facts.failure_codes)),
            Evidence("Trust", trust_text, note=f"anchors: {self.trust_anchors_source}" if self.trust_anchors_source else None),
            Evidence("Manifests in store", facts.manifest_count),
        ]
        if facts.ingredient_failure_codes:
            items.append(Evidence("Ingredient validation failures", list(facts.ingredient_failure_codes)))
        return tuple(items)


# --------------------------------------------------------------------------------------------
# what the manifest store says, as plain data


@dataclass(frozen=True, slots=True)
class _Action:
    action: str
    digital_source_type: str | None
    software_agent: str | None

    def describe(self) -> str:
        parts = [self.action]
        if self.digital_source_type:
            parts.append(f"digitalSourceType={_local_name(self.digital_source_type)}")
        if self.software_agent:
            parts.append(f"by {self.software_agent}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class _Declaration:
    uri: str
    in_active: bool  # False: declared by an ingredient's manifest

    @property
    def name(self) -> str:
        return _local_name(self.uri)

    @property
    def meaning(self) -> str:
        return _SYNTHETIC_SOURCES.get(self.name) or _CAPTURE_SOURCES.get(self.name) or self.name


@dataclass(frozen=True, slots=True)
class _Facts:
    label: str | None
    title: str | None
    generator_text: str
    signature: dict[str, Any]
    actions: tuple[_Action, ...]
    declarations: tuple[_Declaration, ...]
    ingredient_count: int
    manifest_count: int
    validation_state: str | None
    failure_codes: tuple[str, ...]
    success_codes: tuple[str, ...]
    ingredient_failure_codes: tuple[str, ...]

    @property
    def trusted(self) -> bool:
        return "signingCredential.trusted" in self.success_codes and not any(c.startswith(_CREDENTIAL_PREFIXES) for c in self.failure_codes)

    @property
    def synthetic_declarations(self) -> list[_Declaration]:
        found = [d for d in self.declarations if d.name in _SYNTHETIC_SOURCES]
        return sorted(found, key=lambda d: (not d.in_active, list(_SYNTHETIC_SOURCES).index(d.name)))

    @property
    def signer_text(self) -> str:
        cn, org = self.signature.get("common_name"), self.signature.get("issuer")
        if cn and org and cn != org:
            return f"{cn} ({org})"
        return str(cn or org) if (cn or org) else "an unnamed signer"

    @classmethod
    def from_store(cls, store: dict[str, Any]) -> "_Facts":
        manifests = _as_dict(store.get("manifests"))
        label = store.get("active_manifest") if isinstance(store.get("active_manifest"), str) else None
        active = _as_dict(manifests.get(label)) if label else {}
        actions = tuple(_actions(active))
        declarations = [_Declaration(a.digital_source_type, True) for a in actions if a.digital_source_type]
        declarations += [_Declaration(uri, False) for uri in _ingredient_sources(active, manifests, {label}, 0)]
        results = _as_dict(store.get("validation_results"))
        active_results = _as_dict(results.get("activeManifest"))
        if active_results:
            failures = _codes(active_results.get("failure"))
            successes = _codes(active_results.get("success"))
        else:  # older stores: a flat list of problems only
            failures, successes = _codes(store.get("validation_status")), ()
        ingredient_failures = tuple(
            code for delta in _as_list(results.get("ingredientDeltas")) for code in _codes(_as_dict(_as_dict(delta).get("validationDeltas")).get("failure"))
        )
        state = store.get("validation_state")
        return cls(
            label=label,
            title=active.get("title") if isinstance(active.get("title"), str) else None,
            generator_text=_generator_text(active),
            signature=_as_dict(active.get("signature_info")),
            actions=actions,
            declarations=tuple(declarations),
            ingredient_count=len(_as_list(active.get("ingredients"))),
            manifest_count=len(manifests),
            validation_state=state if isinstance(state, str) else None,
            failure_codes=failures,
            success_codes=successes,
            ingredient_failure_codes=ingredient_failures,
        )


def _actions(manifest: dict[str, Any]) -> Iterator[_Action]:
    for assertion in _as_list(manifest.get("assertions")):
        assertion = _as_dict(assertion)
        label = assertion.get("label")
        # c2pa.actions (v1) and c2pa.actions.v2; a trailing "__1" marks repeated assertions.
        if not isinstance(label, str) or not label.split("__")[0] in ("c2pa.actions", "c2pa.actions.v2"):
            continue
        for act in _as_list(_as_dict(assertion.get("data")).get("actions")):
            act = _as_dict(act)
            name = act.get("action")
            if not isinstance(name, str):
                continue
            source = act.get("digitalSourceType") or _as_dict(act.get("parameters")).get("digitalSourceType")
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(agent[k]) for k in ("name", "version") if agent.get(k))
            yield _Action(name, source if isinstance(source, str) else None, agent if isinstance(agent, str) and agent else None)


def _ingredient_sources(manifest: dict[str, Any], manifests: dict[str, Any], seen: set[str | None], depth: int) -> Iterator[str]:
    """Every digitalSourceType declared by the ingredients' own manifests, depth first."""
    if depth >= _MAX_INGREDIENT_DEPTH:
        return
    for ingredient in _as_list(manifest.get("ingredients")):
        label = _as_dict(ingredient).get("active_manifest")
        if not isinstance(label, str) or label in seen or label not in manifests:
            continue
        seen.add(label)
        child = _as_dict(manifests[label])
        for action in _actions(child):
            if action.digital_source_type:
                yield action.digital_source_type
        yield from _ingredient_sources(child, manifests, seen, depth + 1)


def _generator_text(manifest: dict[str, Any]) -> str:
    names = []
    for info in _as_list(manifest.get("claim_generator_info")):
        info = _as_dict(info)
        if info.get("name"):
            names.append(" ".join(str(info[k]) for k in ("name", "version") if info.get(k)))
    if not names and isinstance(manifest.get("claim_generator"), str):
        names.append(manifest["claim_generator"])
    return ", ".join(names) or "an unnamed tool"


def _declared_text(facts: _Facts) -> str:
    names = _unique(d.name for d in facts.declarations)
    if not names:
        return ""
    meanings = [f"{_SYNTHETIC_SOURCES.get(n) or _CAPTURE_SOURCES[n]} ({n})" if n in _SYNTHETIC_SOURCES or n in _CAPTURE_SOURCES else n for n in names]
    return " and ".join(meanings)


def _codes(entries: Any) -> tuple[str, ...]:
    return tuple(e["code"] for e in _as_list(entries) if isinstance(e, dict) and isinstance(e.get("code"), str))


def _local_name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _clean_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text.rstrip(".")
