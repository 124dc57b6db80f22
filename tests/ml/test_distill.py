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


def test_student_matches_the_teachers_mean_and_variance_and_exports_both(small_landscape_csv, tmp_path):
    from activeloop.ml.distill import train_ensemble
    from activeloop.ml.surrogates import get_surrogate

    land = load_landscape(small_landscape_csv)
    X = get_encoder("onehot").encode(land.library)
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(X))
    measured, pool, held = idx[:150], idx[150:4000], idx[4000:6000]
    # measure only where site 1 has one of 10 residues: the GP is unsure about the others
    measured = measured[land.library.tokens[measured][:, 0] < 10]
    teacher = get_surrogate("gp").fit(X[measured], np.log(land.fitness[measured]))
    labels = teacher.predict(X[pool])
    st = train_student(X[pool], labels.mean, channels=8, epochs=40, target_std=labels.std)
    assert st.has_std
    truth = teacher.predict(X[held])
    assert spearmanr(st.predict(X[held]), truth.mean).statistic > 0.85
    assert spearmanr(st.predict_std(X[held]), truth.std).statistic > 0.6
    path = export_onnx(st, X.shape[1] // 20, tmp_path / "s.onnx")
    np.testing.assert_allclose(onnx_predict(path, X[held], st.y_mean, st.y_std), st.predict(X[held]),
                               rtol=1e-4, atol=1e-4)
    # an ensemble of such students reports spread + learned variance: never below either part
    ens = train_ensemble(X[pool], labels.mean, members=2, channels=8, epochs=10, target_std=labels.std)
    pred = ens.predict(X[held])
    spread = ens.member_predictions(X[held]).std(0, ddof=1)
    assert (pred.std >= spread - 1e-9).all() and (pred.std >= ens.members[0].predict_std(X[held]) / 2).all()
