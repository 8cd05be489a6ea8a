"""Training the MLP under a precision policy: the loop, the step, optimizers, schedules, history.

>>> import tempfile
>>> import mixprec.data as md
>>> from mixprec.nn import MLP, evaluate
>>> from mixprec.train import TrainConfig, train
>>> data = md.load(data_dir=md.make_synthetic(tempfile.mkdtemp(), n_train=300, n_test=100))
>>> model = MLP.book(seed=0)
>>> history = train(model, data, policy="bf16", epochs=2, progress=False)
>>> history.accuracy[-1] > 0.9, history.config == TrainConfig(epochs=2, lr=0.05)
(True, True)
"""

from mixprec.train.config import TrainConfig
from mixprec.train.history import History, TrainingInterrupted
from mixprec.train.loop import train, train_epochs
from mixprec.train.optimizers import SGD, Adam, Optimizer, OptimizerName
from mixprec.train.schedules import Schedule, epoch_lr
from mixprec.train.trainer import StepResult, Trainer

__all__ = [
    "SGD", "Adam", "History", "Optimizer", "OptimizerName", "Schedule", "StepResult",
    "TrainConfig", "Trainer", "TrainingInterrupted", "epoch_lr", "train", "train_epochs",
]  # fmt: skip
