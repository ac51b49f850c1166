"""FSDP on CPU: Lightning's ``FSDPStrategy`` with ``accelerator="cpu"`` and the gloo backend.

Lightning 2.6 refuses ``Trainer(accelerator="cpu", strategy="fsdp")`` ("The strategy `fsdp`
requires a GPU accelerator"), although torch's ``FullyShardedDataParallel`` trains on CPU over
gloo. The refusal checks the strategy's exact type, so a subclass passes; two things of
``FSDPStrategy`` then still assume an accelerator, and :class:`CPUFSDPStrategy` overrides them:

- it hands FSDP ``device_id=root_device.index`` (when wrapping the model, and to ``wrap()``
  calls in ``configure_model``), which is ``None`` on CPU, and FSDP then looks for an
  accelerator ("FSDP needs a non-CPU accelerator device"). Here FSDP gets the device;
- it gathers state dicts with ``offload_to_cpu=True``. On CPU that "offload" is no copy, and
  FSDP frees or reuses the buffers the returned tensors point to: a segmentation fault while
  saving the model's full state dict, and optimizer states overwritten by the next one
  (``exp_avg`` by ``exp_avg_sq``). Here state dicts are gathered without offloading.

Importing this module also registers ``strategy="ddp_static_graph"`` (``DDPStrategy`` with
``static_graph=True, find_unused_parameters=False``), a name perceiver-io 0.11's scripts used.

Everything else (auto-wrap, activation checkpointing, full and sharded checkpoints, resuming
checkpoints of other strategies) is ``FSDPStrategy``'s own. Use it to test sharded training
code on machines without GPUs; on GPUs use ``strategy="fsdp"``.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from lightning_fabric.strategies import _StrategyRegistry
from lightning_fabric.strategies.fsdp import _move_torchmetrics_to_device, _setup_activation_checkpointing
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.strategies import DDPStrategy, FSDPStrategy, StrategyRegistry
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer

__all__ = ["CPUFSDPStrategy"]


class CPUFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` for ``accelerator="cpu"`` (process group backend gloo).

    Takes ``FSDPStrategy``'s arguments, for example::

        CPUFSDPStrategy(
            auto_wrap_policy={CrossAttentionLayer, SelfAttentionLayer},
            activation_checkpointing_policy={CrossAttentionLayer, SelfAttentionLayer},
            state_dict_type="full",
        )

    Registered with Lightning as ``strategy="fsdp_cpu"`` once this module is imported (the
    training scripts import it).
    """

    strategy_name = "fsdp_cpu"

    def _setup_model(self, model: Module) -> Module:
        from torch.distributed.fsdp import FullyShardedDataParallel

        if any(isinstance(module, FullyShardedDataParallel) for module in model.modules()):
            return super()._setup_model(model)  # wrapped in configure_model: nothing to place
        model = FullyShardedDataParallel(
            module=model,
            cpu_offload=self.cpu_offload,
            mixed_precision=self.mixed_precision_config,
            sharding_strategy=self.sharding_strategy,
            device_id=self.root_device,  # FSDPStrategy passes root_device.index: None on CPU
            **self.kwargs,
        )
        _move_torchmetrics_to_device(model, self.root_device)
        _setup_activation_checkpointing(model, self._activation_checkpointing_kwargs)
        return model

    @contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.fsdp.wrap import enable_wrap

        with enable_wrap(
            wrapper_cls=FullyShardedDataParallel,
            cpu_offload=self.cpu_offload,
            mixed_precision=self.mixed_precision_config,
            sharding_strategy=self.sharding_strategy,
            device_id=self.root_device,
            **self.kwargs,
        ):
            yield

    def lightning_module_state_dict(self) -> dict[str, Any]:
        assert self.model is not None
        with self._state_dict_context():
            return self.model.state_dict()

    def optimizer_state(self, optimizer: Optimizer) -> dict[str, Tensor]:
        from torch.distributed.fsdp import FullyShardedDataParallel, OptimStateKeyType

        if isinstance(optimizer, LightningOptimizer):
            optimizer = optimizer._optimizer
        assert self.model is not None
        with self._state_dict_context():
            state = FullyShardedDataParallel.optim_state_dict(self.model, optimizer)
            if self._state_dict_type == "full" and self.global_rank == 0:
                # keyed by parameter index, like the optimizer state of any other strategy
                state = FullyShardedDataParallel.rekey_optim_state_dict(
                    state, OptimStateKeyType.PARAM_ID, self.model
                )
        return state

    def _state_dict_context(self) -> AbstractContextManager:
        """``FSDPStrategy``'s state dict settings without ``offload_to_cpu``.

        On CPU, "offloading" to the CPU is no copy: FSDP then frees or reuses the buffers that the
        returned tensors still point to (a segmentation fault for the full model state dict;
        optimizer states overwritten by the next state, ``exp_avg`` by ``exp_avg_sq``).
        """
        from torch.distributed.fsdp import (
            FullOptimStateDictConfig,
            FullStateDictConfig,
            FullyShardedDataParallel,
            ShardedOptimStateDictConfig,
            ShardedStateDictConfig,
            StateDictType,
        )

        if self._state_dict_type == "full":
            configs: tuple[Any, ...] = (
                StateDictType.FULL_STATE_DICT,
                FullStateDictConfig(offload_to_cpu=False, rank0_only=True),
                FullOptimStateDictConfig(offload_to_cpu=False, rank0_only=True),
            )
        elif self._state_dict_type == "sharded":
            configs = (
                StateDictType.SHARDED_STATE_DICT,
                ShardedStateDictConfig(offload_to_cpu=False),
                ShardedOptimStateDictConfig(offload_to_cpu=False),
            )
        else:
            raise ValueError(f"Unknown state_dict_type: {self._state_dict_type}")
        return FullyShardedDataParallel.state_dict_type(self.model, *configs)

    @classmethod
    def register_strategies(cls, strategy_registry: _StrategyRegistry) -> None:
        # not FSDPStrategy's: it lists its names in a class attribute that the Trainer's
        # GPU-only check reads, and this class shares that list
        strategy_registry.register(
            cls.strategy_name, cls, description="Fully Sharded Data Parallel (FSDP) on CPU (gloo)"
        )


if CPUFSDPStrategy.strategy_name not in StrategyRegistry:
    CPUFSDPStrategy.register_strategies(StrategyRegistry)

# perceiver-io 0.11's training scripts name this strategy (--trainer.strategy=ddp_static_graph)
if "ddp_static_graph" not in StrategyRegistry:
    StrategyRegistry.register(
        "ddp_static_graph",
        DDPStrategy,
        description="DDP with a static graph and find_unused_parameters=False",
        static_graph=True,
        find_unused_parameters=False,
    )
