"""GradNorm (Chen et al. 2018): learned task weights that balance gradient magnitudes.

Each task ``i`` has a weight ``w_i = T * softmax(v)_i`` (positive, summing to the number of
tasks ``T`` by construction, so no renormalisation step is needed). At the last shared layer
``W`` the weighted gradient norm is ``G_i = ||grad_W (w_i L_i)||``; GradNorm moves the weights
so that ``G_i`` tracks ``mean(G) * r_i ** alpha``, where ``r_i`` is task ``i``'s inverse training
rate (``L_i(t) / L_i(0)`` over its mean) and ``alpha`` the asymmetry. ``L_i(0)`` is taken at the
first update. The target is a constant (detached), as in the paper.

Second-order terms: because ``w_i`` is a scalar, ``G_i = w_i * ||grad_W L_i||`` exactly. The
unweighted norms ``g_i`` are therefore computed once, without ``create_graph``, and the GradNorm
loss ``sum_i |w_i g_i - target_i|`` is differentiated with respect to ``v`` only. This is the
same gradient that ``create_graph=True`` gives for ``v``, while the network itself only ever
receives ``grad(sum_i w_i.detach() * L_i)``: nothing of the GradNorm loss leaks into it.

Where ``W`` is matters in SU-Net. The heads read only the last stage, but the UperNet decoder
reads all four, so most of the reconstruction's gradient reaches the backbone without crossing its
final norm; measured there, the reconstruction looks weak. The trainer therefore measures by
default at the first stage's last layer, which every task's whole gradient crosses (see
``TrainConfig.gradnorm_layer`` and the README's Results for what each choice gave).

Cost: the norms ``g_i`` need one gradient per task at ``W``. The reconstruction's path runs
through the whole decoder, so :meth:`GradNorm.backward` recovers that one task's gradient from the
network's own backward pass (``grad_W total = sum_i w_i grad_W L_i``) instead of paying for a
second decoder backward; the others are taken directly (through the backbone's later stages when
``W`` is the first stage). Such a step costs more than a plain one (see the README's Results),
which is why the trainer can update the weights only every N-th step.

Implemented here rather than imported: the GradNorm package on PyPI lets weights go negative,
and LibMTL is not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["GradNorm", "flat_grad", "weighted_sum"]


def flat_grad(
    loss: torch.Tensor, params: Sequence[nn.Parameter], retain_graph: bool = True
) -> torch.Tensor:
    """``grad_params loss`` flattened into one vector (zeros where ``loss`` does not reach)."""
    if not loss.requires_grad:
        return torch.cat([torch.zeros_like(p).flatten() for p in params])
    grads = torch.autograd.grad(loss, list(params), retain_graph=retain_graph, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).flatten()
            for g, p in zip(grads, params, strict=True)
        ]
    )


def weighted_sum(weights: torch.Tensor, losses: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum_i weights_i * losses_i`` (weights cast to the losses' dtype)."""
    total: torch.Tensor = sum(  # type: ignore[assignment]
        wi * loss for wi, loss in zip(weights.to(losses[0].dtype), losses, strict=True)
    )
    return total


class GradNorm(nn.Module):
    """Task weights for ``num_tasks`` losses, updated by GradNorm.

    Args:
        num_tasks: ``T``.
        alpha: asymmetry; larger pulls harder towards equal training rates (paper: 0.12-3;
            a run's value is ``TrainConfig.gradnorm_alpha``).
        lr: learning rate of the weights' own Adam optimiser (``TrainConfig.gradnorm_lr``).
    """

    def __init__(self, num_tasks: int, alpha: float, lr: float) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError("GradNorm needs at least one task")
        self.num_tasks = num_tasks
        self.alpha = alpha
        self.logits = nn.Parameter(torch.zeros(num_tasks))
        self.initial_losses: torch.Tensor
        self.register_buffer("initial_losses", torch.full((num_tasks,), float("nan")))
        self.optimizer = torch.optim.Adam([self.logits], lr=lr)

    @property
    def weights(self) -> torch.Tensor:
        """``(T,)`` positive weights summing to ``T`` (differentiable in the logits)."""
        return self.num_tasks * torch.softmax(self.logits, dim=0)

    @torch.no_grad()
    def start_from(self, weights: Sequence[float]) -> None:
        """Start from given weights (e.g. where a run that is being fine-tuned ended) instead
        of equal ones; they are rescaled to sum to ``T``."""
        w = torch.as_tensor(list(weights), dtype=torch.float32).clamp_min(1e-6)
        if w.numel() != self.num_tasks:
            raise ValueError(f"expected {self.num_tasks} task weights, got {w.numel()}")
        self.logits.copy_(torch.log(w / w.sum()).to(self.logits.device))

    def backward(
        self,
        losses: Sequence[torch.Tensor],
        shared: Sequence[nn.Parameter],
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Backpropagate ``sum_i w_i L_i`` (weights detached) into the network; return the
        unweighted norms ``g_i = ||grad_W L_i||``.

        The last task is taken to be the costly one (the reconstruction): its gradient at
        ``shared`` is recovered from the total gradient there, ``(grad_total - sum_{i<T-1} w_i
        grad_i) / w_{T-1}``. The others are computed directly on the retained graph.

        Args:
            losses: ``T`` scalar task losses with graph, as separate tensors: a gradient taken
                through ``torch.stack`` would also flow (as zeros) through every other task's
                graph, the decoder included.
            shared: the last shared layer's parameters ``W``.
            reduce: averages a tensor over data-parallel processes (DDP averages ``.grad`` the
                same way, so the explicit gradients must be averaged too); ``None`` = one process.

        Returns:
            ``(T,)`` float32 norms, detached.
        """
        if len(losses) != self.num_tasks:
            raise ValueError(f"expected {self.num_tasks} losses, got {len(losses)}")
        w = self.weights.detach()
        before = torch.cat(
            [
                (
                    p.grad.detach().flatten().clone()
                    if p.grad is not None
                    else p.new_zeros(p.numel())
                )
                for p in shared
            ]
        )
        direct = [flat_grad(loss, shared) for loss in losses[:-1]]
        weighted_sum(w, losses).backward()
        total = torch.cat([p.grad.flatten() for p in shared]) - before  # type: ignore[union-attr]
        explicit = torch.stack(direct) if direct else total.new_zeros((0, total.numel()))
        if reduce is not None and len(direct):
            explicit = reduce(explicit)
        last = (total - (w[:-1, None] * explicit).sum(0)) / w[-1]
        grads = torch.cat([explicit, last[None]], dim=0)
        return grads.float().norm(dim=1).detach()

    def loss(self, losses: torch.Tensor, grad_norms: torch.Tensor) -> torch.Tensor:
        """GradNorm's loss ``sum_i |w_i g_i - mean_j(w_j g_j) * r_i ** alpha|`` (target detached),
        differentiable in the weights' logits only. Needs :attr:`initial_losses` set."""
        g = grad_norms.detach().float().to(self.logits.device)
        weighted = self.weights * g  # G_i(t) = ||grad_W (w_i L_i)||
        rate = losses.detach().float().to(self.logits.device) / self.initial_losses
        rate = rate / rate.mean().clamp_min(1e-12)
        target = (weighted.mean() * rate.pow(self.alpha)).detach()
        return (weighted - target).abs().sum()

    def step(self, losses: torch.Tensor, grad_norms: torch.Tensor) -> dict[str, float]:
        """One GradNorm update of the weights.

        Args:
            losses: ``(T,)`` current task losses (detached values suffice).
            grad_norms: ``(T,)`` unweighted gradient norms ``||grad_W L_i||``.

        Returns:
            ``{"gradnorm_loss": ...}`` for logging.
        """
        losses = losses.detach().float().to(self.logits.device)
        if torch.isnan(self.initial_losses).any():
            self.initial_losses.copy_(losses.clamp_min(1e-12))
        loss = self.loss(losses, grad_norms)
        self.optimizer.zero_grad(set_to_none=True)
        (grad,) = torch.autograd.grad(loss, [self.logits])
        self.logits.grad = grad
        self.optimizer.step()
        return {"gradnorm_loss": float(loss.detach())}
