"""GradNorm: positive weights summing to T that balance the tasks' gradient norms at the last
shared layer, with no second-order gradient reaching the network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from tiny_model import TINY
from torch import nn

from sunet.model import SUNet
from sunet.training.gradnorm import GradNorm, flat_grad
from sunet.training.step import Batch, StepRunner


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # Tiny models gain nothing from more threads, and on a busy machine OpenMP threads that
    # wait for each other make these tests many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Toy(nn.Module):
    """A shared layer and two regression heads; task 2's loss is scaled by 10."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.x = torch.randn(256, 8)
        self.y1 = self.x @ torch.randn(8, 1)
        self.y2 = self.x @ torch.randn(8, 1)
        self.shared = nn.Linear(8, 16)
        self.head1 = nn.Linear(16, 1)
        self.head2 = nn.Linear(16, 1)

    def losses(self) -> list[torch.Tensor]:
        z = torch.relu(self.shared(self.x))
        return [
            ((self.head1(z) - self.y1) ** 2).mean(),
            10 * ((self.head2(z) - self.y2) ** 2).mean(),
        ]


def _weighted_norm_ratio(gn: GradNorm, norms: torch.Tensor) -> float:
    weighted = gn.weights.detach() * norms
    return float(weighted.max() / weighted.min())


def test_weights_balance_the_gradient_norms() -> None:
    toy = Toy()
    shared = list(toy.shared.parameters())
    opt = torch.optim.SGD(toy.parameters(), lr=0.002)
    gn = GradNorm(2, alpha=0.5, lr=0.05)
    ratios = []
    for _ in range(60):
        losses = toy.losses()
        opt.zero_grad()
        norms = gn.backward(losses, shared)
        ratios.append(_weighted_norm_ratio(gn, norms))
        gn.step(torch.stack(losses), norms)
        opt.step()
        w = gn.weights.detach()
        assert bool((w > 0).all())
        torch.testing.assert_close(w.sum(), torch.tensor(2.0))
    assert ratios[0] > 5  # the 10x loss dominates at first
    assert ratios[-1] < 2  # and no longer after GradNorm
    w = gn.weights.detach()
    assert float(w[1]) < 0.5 < float(w[0])  # the large task is down-weighted


def test_recovered_gradient_norms_equal_direct_ones() -> None:
    # backward() derives the last task's gradient from the total; it must match autograd.
    toy = Toy()
    shared = list(toy.shared.parameters())
    gn = GradNorm(2, alpha=1.5, lr=0.025)
    gn.logits.data = torch.tensor([0.3, -0.4])
    losses = toy.losses()
    direct = torch.stack([flat_grad(losses[i], shared).norm() for i in range(2)])
    norms = gn.backward(losses, shared)
    torch.testing.assert_close(norms, direct, rtol=1e-4, atol=1e-6)
    # ...and the network received grad(sum_i w_i L_i) with the weights treated as constants.
    w = gn.weights.detach()
    expected = flat_grad(w[0] * toy.losses()[0] + w[1] * toy.losses()[1], shared)
    got = torch.cat([p.grad.flatten() for p in shared if p.grad is not None])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_weight_gradient_equals_the_second_order_formulation() -> None:
    toy = Toy()
    shared = list(toy.shared.parameters())
    gn = GradNorm(2, alpha=1.5, lr=0.025)
    gn.logits.data = torch.tensor([0.2, -0.1])
    losses = toy.losses()
    gn.initial_losses.copy_(torch.stack(losses).detach() * 1.3)

    # Chen et al. as usually written: norms of grad(w_i L_i) with create_graph.
    w = gn.weights
    big_g = torch.stack(
        [
            torch.cat(
                [
                    g.flatten()
                    for g in torch.autograd.grad(w[i] * losses[i], shared, create_graph=True)
                ]
            ).norm()
            for i in range(2)
        ]
    )
    rate = torch.stack(losses).detach() / gn.initial_losses
    rate = rate / rate.mean()
    target = (big_g.mean() * rate**gn.alpha).detach()
    (expected,) = torch.autograd.grad((big_g - target).abs().sum(), [gn.logits])

    norms = torch.stack([flat_grad(losses[i], shared).norm() for i in range(2)])
    (got,) = torch.autograd.grad(gn.loss(torch.stack(losses), norms), [gn.logits])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_weight_update_leaves_network_gradients_alone() -> None:
    toy = Toy()
    shared = list(toy.shared.parameters())
    gn = GradNorm(2, alpha=1.5, lr=0.025)
    losses = toy.losses()
    norms = torch.stack([flat_grad(losses[i], shared).norm() for i in range(2)])
    before = gn.weights.detach().clone()
    gn.step(torch.stack(losses), norms)
    assert all(p.grad is None for p in toy.parameters())
    assert not torch.equal(gn.weights.detach(), before)
    torch.testing.assert_close(gn.initial_losses, torch.stack(losses).detach())


def test_three_tasks_keep_the_sum_and_positivity() -> None:
    gn = GradNorm(3, alpha=1.5, lr=0.5)
    for step in range(50):
        losses = torch.tensor([1.0, 5.0, 0.2]) * (0.99**step)
        gn.step(losses, torch.tensor([100.0, 0.01, 1.0]))
        w = gn.weights.detach()
        assert bool((w > 0).all())
        torch.testing.assert_close(w.sum(), torch.tensor(3.0))
    assert int(gn.weights.argmin()) == 0  # the task with the huge gradient is damped


# ------------------------------------------------------------------ on SU-Net


def _su_net_batch(seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    abundances = torch.rand(8, 17, generator=g)
    return Batch(
        x=torch.randn(8, 3, TINY.input_size, TINY.input_size, generator=g),
        pure=torch.tensor([True, False] * 4),
        target=torch.randint(0, 17, (8,), generator=g),
        abundances=abundances / abundances.sum(1, keepdim=True),
    )


@pytest.mark.parametrize("where", ["final-norm", "first-stage"])
def test_every_task_reaches_the_shared_layer(where: str) -> None:
    torch.manual_seed(0)
    model = SUNet(TINY)
    shared = model.shared_layer_parameters(where)
    names = {id(p): n for n, p in model.named_parameters()}
    prefix = "backbone.norm." if where == "final-norm" else "backbone.body.layers_0.blocks.0.norm2."
    assert all(names[id(p)].startswith(prefix) for p in shared)
    runner = StepRunner(
        model, model, torch.optim.SGD(model.parameters()), GradNorm(3, alpha=1.5, lr=0.025),
        True, 0, None, shared_layer="final-norm", gradnorm_every=1, abundances_on_pure=False,
    )  # fmt: skip
    for loss in runner.losses(_su_net_batch()):
        assert float(flat_grad(loss, shared).norm()) > 0
    with pytest.raises(ValueError, match="first-stage"):
        model.shared_layer_parameters("middle")


def test_weights_update_only_every_nth_step() -> None:
    torch.manual_seed(0)
    model = SUNet(TINY)
    gn = GradNorm(3, alpha=1.5, lr=0.1)
    runner = StepRunner(
        model,
        model,
        torch.optim.AdamW(model.parameters()),
        gn,
        True,
        1.0,
        None,
        shared_layer="first-stage",
        gradnorm_every=3,
        abundances_on_pure=False,
    )
    changed = []
    for step in range(7):
        before = gn.weights.detach().clone()
        runner.step(_su_net_batch(step), 1e-3, step)
        changed.append(not torch.equal(gn.weights.detach(), before))
    assert changed == [True, False, False, True, False, False, True]


def test_abundances_train_on_pure_patches_only_when_asked() -> None:
    torch.manual_seed(0)
    model = SUNet(TINY)
    batch = _su_net_batch()
    batch.pure[:] = True  # a batch of pure patches only
    losses = {}
    for on_pure in (False, True):
        runner = StepRunner(
            model, model, torch.optim.SGD(model.parameters()), GradNorm(3, alpha=1.5, lr=0.025),
            True, 0, None, shared_layer="final-norm", gradnorm_every=1,
            abundances_on_pure=on_pure,
        )  # fmt: skip
        losses[on_pure] = float(runner.losses(batch)[1].detach())
    assert losses[False] == 0.0 and losses[True] > 0.01


def test_gradnorm_can_start_from_given_weights() -> None:
    g = GradNorm(3, alpha=1.5, lr=0.025)
    g.start_from([0.1, 0.17, 2.73])
    torch.testing.assert_close(g.weights, torch.tensor([0.1, 0.17, 2.73]))
    g.start_from([1.0, 1.0, 2.0])  # rescaled to sum to the number of tasks
    torch.testing.assert_close(g.weights, torch.tensor([0.75, 0.75, 1.5]))
    with pytest.raises(ValueError, match="expected 3 task weights"):
        g.start_from([1.0, 2.0])
