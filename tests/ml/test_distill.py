import numpy as np
from scipy.stats import spearmanr

from activeloop.landscapes import load_landscape
from activeloop.ml.distill import export_onnx, onnx_predict, train_student
from activeloop.ml.encodings import get_encoder


def test_student_learns_a_teacher_and_onnx_matches_torch(small_landscape_csv, tmp_path):
    land = load_landscape(small_landscape_csv)
    X = get_encoder("onehot").encode(land.library)
    teacher = np.log(land.fitness)  # stands in for a teacher's predictive mean
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    fit, held = idx[:3000], idx[3000:5000]
    members = [train_student(X[fit], teacher[fit], architecture=a, channels=8, epochs=30, seed=k, bootstrap=True)
               for k, a in enumerate(["cnn", "mlp"])]
    for k, st in enumerate(members):
        pred = st.predict(X[held])
        assert spearmanr(pred, teacher[held]).statistic > 0.9
        path = export_onnx(st, X.shape[1] // 20, tmp_path / f"m{k}.onnx")
        assert path.stat().st_size > 1000 and not list(tmp_path.glob("*.data"))  # one file
        np.testing.assert_allclose(onnx_predict(path, X[held], st.y_mean, st.y_std), pred, rtol=1e-4, atol=1e-4)
    # members trained on different bootstraps disagree a little: an uncertainty signal
    a, b = (m.predict(X[held]) for m in members)
    assert 0 < np.abs(a - b).mean() < np.abs(teacher[held] - teacher[held].mean()).mean()
