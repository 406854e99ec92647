"""Head tracking: face models (builtin, bfm2009), landmark fitting, cameras and initial point clouds.

Modules: facemodel (the common model format), builtin (the model made here), bfm (BFM 2009
converter), rotation (pose conventions), tracker (the fit), cameras (transforms_*.json), points
(initial PLY point clouds), synthetic (landmark videos with known poses, for tests and benchmarks).
CLI: python -m gtalker.fit --help.
"""
