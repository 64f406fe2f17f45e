/**
 * The vLLM release a fleet runs, and the engine constants measured for it. Activation and
 * non-torch memory are not derivable from a model's config: they are measured, and they change
 * between releases (vLLM 0.17 cut the activation peak by about 60%), so every constant here is
 * keyed to the releases it was measured for.
 */

/** A vLLM release, `major.minor.patch`. */
export interface EngineVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

const VERSION = /^v?(\d+)\.(\d+)(?:\.(\d+))?/;
/**
 * Release tags of the images the project knows: `vllm/vllm-openai-rocm:v0.19.0`,
 * `rocm/vllm:rocm7.0.0_vllm_0.10.2_20251006`, `…:0.19.0`.
 */
const IMAGE_TAG_VERSION = /:(?:v?(\d+\.\d+(?:\.\d+)?)(?:[-+.][^@/]*)?|[^@/]*?vllm[_-]v?(\d+\.\d+(?:\.\d+)?)[^@/]*)(?:@|$)/;

export function parseEngineVersion(text: string): EngineVersion | undefined {
  const m = VERSION.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) } : undefined;
}

/** The vLLM release an image's tag names, when it names one. */
export function versionFromImage(image: string): string | undefined {
  const m = IMAGE_TAG_VERSION.exec(image);
  return m?.[1] ?? m?.[2];
}

export function compareVersions(a: EngineVersion, b: EngineVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function formatVersion(v: EngineVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** The batch limits a replica's engine is started with (`--max-num-batched-tokens`, `--max-num-seqs`). */
export interface BatchLimits {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
}

/** Constants of the releases from `since` on (until the next row). */
export interface EngineConstants {
  readonly since: EngineVersion;
  /**
   * Peak activation (torch allocator peak of the profiling run) by architecture, measured at
   * `measuredAt` batch limits; `activationBase` for architectures not measured.
   */
  readonly activationGiB: ReadonlyMap<string, number>;
  readonly activationBase: { readonly dense: number; readonly moe: number; readonly multimodal: number };
  readonly measuredAt: BatchLimits;
  /** CUDA/HIP runtime and, from TP 2, the collective-communication buffers, outside torch's allocator. */
  readonly nonTorchGiB: { readonly tp1: number; readonly tpN: number };
  /** KV cache block size (tokens per page): vLLM's default on ROCm. */
  readonly blockSize: number;
  readonly source: string;
}

/**
 * vLLM picks 8192 batched tokens / 1024 sequences on a device of at least 70 GiB and 2048 / 256
 * below it (`EngineArgs.get_batch_defaults`, vllm/engine/arg_utils.py, usage context
 * OPENAI_API_SERVER). On a partition the device is the partition (vllm/platforms/rocm.py takes
 * `torch.cuda.get_device_properties().total_memory`). The project passes both flags explicitly so
 * that the values sized for are the values used.
 */
export const LARGE_DEVICE_GIB = 70;
export const LARGE_DEVICE_BATCH: BatchLimits = { maxNumBatchedTokens: 8192, maxNumSeqs: 1024 };
export const SMALL_DEVICE_BATCH: BatchLimits = { maxNumBatchedTokens: 2048, maxNumSeqs: 256 };

const LLMD_V019 =
  'llm-d-incubation/llm-d-planner data/configuration/vllm_memory_constants.json (vLLM 0.19.0, H100-80GB, 49 runs, ' +
  'default batch limits 8192/1024) and accuracy/blog-gpu-capacity.md (activation flat from 0.17.0 to 0.19.0: Qwen3-14B 2.23 GiB ' +
  'vs 5.64 GiB on 0.16.0; non-torch ~2.1 GiB per GPU at TP >= 2)';

/**
 * Rows oldest first. The first row's `since` is the oldest supported release: 0.17.0, because the
 * activation constants were measured from it on, and because every release from it on loads
 * online-fp8 weights layer by layer on the meta device (vLLM PR #31914, January 2026) — older
 * ones load the whole 16-bit checkpoint onto the device first, a peak this sizing does not model.
 * It also postdates the removal of Mllama (PR #24907, 0.10.2) and of the V0 engine.
 */
export const ENGINE_RELEASES: readonly EngineConstants[] = [
  {
    since: { major: 0, minor: 17, patch: 0 },
    activationGiB: new Map([
      ['LlamaForCausalLM', 1.89],
      ['Qwen2ForCausalLM', 2.25],
      ['Qwen3ForCausalLM', 2.21],
      ['Mistral3ForConditionalGeneration', 2.1],
      ['PixtralForConditionalGeneration', 2.1],
      ['DeepseekV2ForCausalLM', 1.93],
      ['MixtralForCausalLM', 1.21],
      ['Qwen2MoeForCausalLM', 2.47],
      ['Qwen3MoeForCausalLM', 2.68],
      ['Gemma2ForCausalLM', 3.65],
      ['Gemma3ForCausalLM', 3.94],
      // The multimodal Gemma 3 checkpoints run the same text model (measured as Gemma3ForCausalLM).
      ['Gemma3ForConditionalGeneration', 3.94],
    ]),
    activationBase: { dense: 2.0, moe: 2.5, multimodal: 2.0 },
    measuredAt: LARGE_DEVICE_BATCH,
    nonTorchGiB: { tp1: 0.27, tpN: 2.1 },
    blockSize: 16,
    source: LLMD_V019,
  },
];

export const MINIMUM_ENGINE_VERSION: EngineVersion = ENGINE_RELEASES[0]!.since;

/** The constants of a release; undefined below the minimum supported one. */
export function engineConstants(version: EngineVersion): EngineConstants | undefined {
  let found: EngineConstants | undefined;
  for (const row of ENGINE_RELEASES) if (compareVersions(version, row.since) >= 0) found = row;
  return found;
}

/** The release the constants were last calibrated against: what sizing assumes when the fleet names none. */
export const CALIBRATED_ENGINE_VERSION: EngineVersion = { major: 0, minor: 19, patch: 0 };

/** Batch limits for a device (partition) of `deviceGiB`, as vLLM would default them. */
export function defaultBatchLimits(deviceGiB: number): BatchLimits {
  return deviceGiB >= LARGE_DEVICE_GIB ? LARGE_DEVICE_BATCH : SMALL_DEVICE_BATCH;
}

/** Where a fleet's vLLM release comes from. */
export interface FleetEngine {
  readonly version: EngineVersion;
  readonly origin: 'declared' | 'image tag' | 'calibrated default';
}

/** `images.vllmVersion`, else the release the image tag names, else the calibrated release. */
export function fleetEngine(images: { readonly vllm: string; readonly vllmVersion?: string }): FleetEngine {
  const declared = images.vllmVersion !== undefined ? parseEngineVersion(images.vllmVersion) : undefined;
  if (declared) return { version: declared, origin: 'declared' };
  const tagged = versionFromImage(images.vllm);
  const fromTag = tagged !== undefined ? parseEngineVersion(tagged) : undefined;
  return fromTag ? { version: fromTag, origin: 'image tag' } : { version: CALIBRATED_ENGINE_VERSION, origin: 'calibrated default' };
}
