"""Readouts for fixed feature extractors (reservoirs): ridge, logistic, and a contrastive projection.

All take features ``[N, F]`` (torch) and labels ``[N]``; a readout used before ``fit`` raises.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from neuro.errors import ConfigError, ShapeError


class _Readout:
    mean: torch.Tensor | None = None

    def _check(self, X: torch.Tensor) -> None:
        if self.mean is None:
            raise ConfigError(f"{type(self).__name__} is used before fit(); call fit(features, labels) first")
        if X.dim() != 2 or X.shape[1] != self.mean.shape[0]:
            raise ShapeError(f"expected features [N, {self.mean.shape[0]}], got {tuple(X.shape)}")

    def _standardize(self, X: torch.Tensor) -> torch.Tensor:
        return (X - self.mean) / self.std

    def score(self, X: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(X) == y).float().mean())


class RidgeReadout(_Readout):
    """Closed-form ridge regression onto one-hot targets; prediction = argmax."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: torch.Tensor, y: torch.Tensor) -> RidgeReadout:
        X = X.double()
        self.mean, self.std = X.mean(0), X.std(0) + 1e-6
        Z = torch.cat([self._standardize(X), torch.ones(len(X), 1, dtype=X.dtype)], 1)
        Y = F.one_hot(y, int(y.max()) + 1).double()
        A = Z.t() @ Z + self.alpha * torch.eye(Z.shape[1], dtype=X.dtype)
        self.W = torch.linalg.solve(A, Z.t() @ Y)
        return self

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        self._check(X)
        Z = torch.cat([self._standardize(X.double()), torch.ones(len(X), 1, dtype=torch.float64)], 1)
        return (Z @ self.W).argmax(1)


class LogisticReadout(_Readout):
    """Multinomial logistic regression (L2), fit with L-BFGS."""

    def __init__(self, l2: float = 1e-3, max_iter: int = 200) -> None:
        self.l2, self.max_iter = l2, max_iter

    def fit(self, X: torch.Tensor, y: torch.Tensor) -> LogisticReadout:
        X = X.float()
        self.mean, self.std = X.mean(0), X.std(0) + 1e-6
        Z = self._standardize(X)
        self.lin = nn.Linear(Z.shape[1], int(y.max()) + 1)
        opt = torch.optim.LBFGS(self.lin.parameters(), max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(self.lin(Z), y) + self.l2 * self.lin.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return self

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        self._check(X)
        with torch.no_grad():
            return self.lin(self._standardize(X.float())).argmax(1)


class ContrastiveProjection(nn.Module):
    """Two linear projections into a shared space, trained with a symmetric CLIP loss on paired
    samples of two modalities (pairs share a class); matching = highest cosine similarity."""

    def __init__(self, dim_a: int, dim_b: int, dim: int = 64, temperature: float = 0.1) -> None:
        super().__init__()
        self.pa, self.pb = nn.Linear(dim_a, dim), nn.Linear(dim_b, dim)
        self.temperature = temperature
        self.fitted = False

    def embed_a(self, A: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.pa((A - self.ma) / self.sa), dim=1)

    def embed_b(self, B: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.pb((B - self.mb) / self.sb), dim=1)

    def fit(self, A: torch.Tensor, B: torch.Tensor, labels: torch.Tensor, epochs: int = 200, lr: float = 1e-2,
            batch: int = 64, seed: int = 0) -> ContrastiveProjection:
        if len(A) != len(B) or len(A) != len(labels):
            raise ShapeError(f"paired data must have equal lengths, got {len(A)}, {len(B)}, {len(labels)}")
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # start from nn.Linear's default distribution, drawn from ``seed``
            for lin in (self.pa, self.pb):
                bound = 1.0 / lin.in_features**0.5
                for p in (lin.weight, lin.bias):
                    p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
        self.ma, self.sa = A.mean(0), A.std(0) + 1e-6
        self.mb, self.sb = B.mean(0), B.std(0) + 1e-6
        opt = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=1e-4)
        for _ in range(epochs):
            perm = torch.randperm(len(A), generator=g)
            for k in range(0, len(A), batch):
                idx = perm[k : k + batch]
                za, zb = self.embed_a(A[idx]), self.embed_b(B[idx])
                logits = za @ zb.t() / self.temperature
                same = (labels[idx, None] == labels[None, idx]).float()
                target = same / same.sum(1, keepdim=True)  # pairs of the same class are all positives
                loss = -(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.log_softmax(0)).sum(0).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.fitted = True
        return self

    @torch.no_grad()
    def match(self, A: torch.Tensor, B_protos: torch.Tensor) -> torch.Tensor:
        """For each sample of modality A, the index of the most similar row of ``B_protos``."""
        if not self.fitted:
            raise ConfigError("ContrastiveProjection is used before fit()")
        return (self.embed_a(A) @ self.embed_b(B_protos).t()).argmax(1)
