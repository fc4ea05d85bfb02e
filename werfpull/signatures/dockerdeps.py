"""The DEPS object of a Dockerfile image's `dockerfile` stage (spec section 8).

A pure function of the image's spec, the checksums of its files and the final
signatures of what it depends on; the signer calls it for the stage table's
`deps="dockerfile"` row.
"""

from __future__ import annotations

from werfpull.config.model import Image
from werfpull.signatures.dockercontext import DockerfileInputs


def dockerfile_deps(project: str, image: Image, inputs: DockerfileInputs, finals: dict) -> dict:
    spec = image.dockerfile
    hex_d, hex_c, hex_a = inputs.checksums()
    deps = {
        "project": project,
        "dockerfile": hex_d,
        "target": spec.target,
        "args": dict(spec.args),
        "context": hex_c,
        "dependencies": [
            {"image": d.image, "signature": finals[d.image],
             "imports": [{"type": i.type, "targetBuildArg": i.target_build_arg}
                         for i in d.imports]}
            for d in spec.dependencies
        ],
    }
    if hex_a is not None:
        deps["contextAddFiles"] = hex_a
    if spec.cache_version is not None:
        deps["cacheVersion"] = {"build": None, "image": spec.cache_version}
    return deps
