"""The built-in components, registered through the same pluggy hook as any plugin.

This table is the one place that names them; ``icezoo list`` shows it.
"""

from __future__ import annotations

from .hookspecs import hookimpl


@hookimpl
def icezoo_register(registry) -> None:
    from . import inputs, losses
    from .data import megc2019, synthetic
    from .nn import generators, heads, reasoning, recognisers, trunks

    components = {
        "generator": {
            "identity_unet": generators.IdentityUNet,
            "dcgan": generators.DCGANGenerator,
        },
        "reasoning": {
            "none": reasoning.NoBridge,
            "skip": reasoning.Skip,
            "se": reasoning.SqueezeExcitation,
            "grm": reasoning.GraphReasoning,
            "grm_einsum": reasoning.GraphReasoningEinsum,
            "grm_release": reasoning.ReleaseGraphReasoning,
        },
        "trunk": {
            "patchgan70": trunks.PatchGAN70,
            "patchgan70_release": trunks.ReleasePatchGAN,
        },
        "head": {
            "capsule": heads.CapsuleHead,
            "cnn": heads.CNNHead,
        },
        "loss": {
            "l1": losses.L1,
            "mse": losses.MSE,
            "margin": losses.MarginLoss,
            "cross_entropy": losses.CrossEntropy,
            "gan": losses.AdversarialLoss,
        },
        "perceptual": {
            "timm": losses.TimmPerceptual,
            "fer_xception": losses.FerPerceptual,
        },
        "dataset": {
            "synthetic": synthetic.synthetic,
            "megc2019": megc2019.megc2019,
        },
        "recogniser": {
            "ststnet": recognisers.STSTNet,
            "dual_inception": recognisers.DualInception,
            "capsulenet": recognisers.CapsuleNet,
            "emr_approx": recognisers.EMRApprox,
            "svm": recognisers.svm,
        },
        "input": {
            "apex": inputs.Apex,
            "flow": inputs.Flow,
            "flow_strain": inputs.FlowStrain,
            "flow_hsv": inputs.FlowHSV,
            "lbp_top": inputs.LBPTop,
        },
    }
    for kind, table in components.items():
        for name, obj in table.items():
            registry.register(kind, name, obj)
