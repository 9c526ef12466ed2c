"""scripts/profile_torch.py (needs torch and torchvision): a torchvision model over a folder of photos
gives the report of dumping the same photos with scripts/dump_traces.py and running `laconic profile`
(but for `engine` and `source`); --weights loads a state dict; --module runs the Keras ResNet-50 of
scripts/realnet with its own preprocessing; bad inputs exit 1 and bad option values 2, with a message
that names the option.

Run: PYTHONPATH=build/python /usr/bin/python3 tests/python/test_profile_torch.py
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import live_util
from live_util import REPO, cli_profile, without_run_fields

REASON = live_util.missing(torch=True, torchvision=True)
SCRIPT = os.path.join(REPO, "scripts", "profile_torch.py")
DUMP = os.path.join(REPO, "scripts", "dump_traces.py")
PHOTOS = os.path.join(REPO, "datasets", "photos")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=1200)


@live_util.requires(REASON)
class ProfileTorch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def profile(self, *args):
        out = os.path.join(self.d, "live.json")
        r = run(*args, "--json", out, "--engine", "cpu")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return json.load(f), r

    def test_equals_dump_then_profile(self):
        dump = os.path.join(self.d, "dump")
        r = subprocess.run([sys.executable, DUMP, "--model", "resnet18", "--images", PHOTOS, "--count", "3",
                            "--batch", "2", "--out", dump, "--float", "--quantize", "fixed", "--act-int-bits", "8",
                            "--act-frac-bits", "8", "--wgt-int-bits", "1", "--wgt-frac-bits", "15", "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        expected, _, _ = cli_profile(os.path.join(dump, "manifest.json"), self.d, "--engine", "cpu",
                                     "--encoding", "naf")
        live, r = self.profile("--model", "resnet18", "--images", PHOTOS, "--limit", "3", "--batch-size", "2",
                               "--encoding", "naf")
        self.assertEqual(without_run_fields(live), without_run_fields(expected))
        self.assertIn("torchvision resnet18, random initialisation (seed 0), on 3 image(s): astronaut.jpg",
                      live["config"]["source"])
        self.assertIn("# laconic profile: resnet18", r.stdout)
        self.assertIn("images/s", r.stderr)

    def test_weights_are_a_state_dict(self):
        import torch
        import dump_traces
        path = os.path.join(self.d, "w.pt")
        torch.save(dump_traces.build_model("mobilenet_v3_small", 5).state_dict(), path)
        common = ["--model", "mobilenet_v3_small", "--images", PHOTOS, "--limit", "1", "--preset", "equal", "-q"]
        seeded, _ = self.profile(*common, "--seed", "5")
        loaded, _ = self.profile(*common, "--weights", path)
        other, _ = self.profile(*common)
        self.assertEqual(without_run_fields(loaded), without_run_fields(seeded))
        self.assertNotEqual(without_run_fields(loaded), without_run_fields(other))

    def test_keras_resnet50_module_with_its_preprocessing(self):
        # Random weights (the real ones come from scripts/realnet/keras_resnet50.py convert); the
        # module's own preprocess() feeds conv1 a 230×230 padded input of 224×224 BGR photos.
        live, _ = self.profile("--module", os.path.join(REPO, "scripts", "realnet", "keras_resnet50.py") + ":KerasResNet50",
                               "--images", PHOTOS,
                               "--limit", "1", "-q", "--layers", "conv1,res2a_branch2a,fc1000")
        layers = {l["name"]: l for l in live["layers"]}
        self.assertEqual(list(layers), ["conv1", "res2a_branch2a", "fc1000"])
        self.assertEqual(layers["conv1"]["macs"], 112 * 112 * 64 * 3 * 7 * 7)
        self.assertIn("KerasResNet50 of keras_resnet50.py", live["config"]["source"])
        self.assertIn("(auto preprocessing)", live["config"]["source"])

    def test_calibrated_linear(self):
        live, _ = self.profile("--model", "resnet18", "--images", PHOTOS, "--limit", "2", "--quantize", "linear",
                               "--bits", "8", "--calibrate", "2", "-q", "--layers", "conv1,fc")
        self.assertEqual([l["samples"] for l in live["layers"]], [2, 2])
        self.assertIn("activation ranges calibrated on the first 2 image(s)", live["config"]["source"])
        self.assertEqual(len(live["layers"][0]["terms"]["activations"]["histogram"]), 6)  # 8-bit booth: 0..5

    def test_bad_options(self):
        for args, message in (
                (["--model", "resnet181", "--images", PHOTOS], "unknown model 'resnet181'; did you mean resnet18"),
                (["--model", "resnet18", "--images", os.path.join(self.d, "none")], "does not exist"),
                (["--model", "resnet18", "--images", PHOTOS, "--limit", "99"], "--limit 99 but"),
                (["--module", "scripts/realnet/keras_resnet50.py", "--images", PHOTOS], "must be FILE:FACTORY"),
                (["--model", "resnet18", "--images", PHOTOS, "--weights", os.path.join(self.d, "no.pt")],
                 "--weights .*no.pt: cannot be read")):
            with self.subTest(args=args):
                r = run(*args, "--limit" if "--limit" not in args else "--batch-size", "1", "-q")
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertRegex(r.stderr, "profile_torch.py: error: .*" + message)

    def test_usage_errors_exit_2_and_name_the_option(self):
        base = ["--model", "resnet18", "--images", PHOTOS, "--limit", "1", "-q"]
        for args, message in (
                (["--encoding", "nafx"], "--encoding must be binary"),
                (["--shifter-bits", "40"], "--shifter-bits: the first-stage shifter bits B must be between 0 and 31"),
                (["--column-registers", "stripes=1"], "--column-registers stripes=1: column registers of stripes"),
                (["--threads", "0"], "--threads must be at least 1, not 0"),
                (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
                (["--act-int-bits", "-1"], "--act-int-bits must be at least 0, not -1"),
                (["--act-int-bits", "30", "--act-frac-bits", "8"], "--act-int-bits and --act-frac-bits: .*between 1 and 32"),
                # An option of the other quantization mode is refused, not ignored.
                (["--bits", "8"], r"--bits is an option of --quantize linear, not of --quantize fixed \(which takes "
                                  "--act-int-bits"),
                (["--quantize", "linear", "--act-int-bits", "4"], "--act-int-bits is an option of --quantize fixed")):
            with self.subTest(args=args):
                r = run(*base, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertRegex(r.stderr, "profile_torch.py: error: " + message)


if __name__ == "__main__":
    live_util.main(REASON)
