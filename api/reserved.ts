/**
 * What a spec may not set because the compiler sets it, or because Kubernetes reserves it. The
 * spec checks (`api/safety-checks.ts`) reject these with positions; the constructs that emit the
 * same flags and variables import these lists, so the rule has one home.
 */

/**
 * vLLM flags derived from the plan and the sizing, or from the serving wiring. A model's `args`
 * come after the derived ones and vLLM's argparse keeps the last value, so repeating one would
 * silently override the plan: a different tensor parallelism than the partitions requested, more
 * memory than the partition holds, a context the KV cache was not sized for.
 */
export const DERIVED_ENGINE_FLAGS: Readonly<Record<string, string>> = {
  '--model': 'the runtime serves the weights KServe downloaded from spec.model',
  '--port': 'the runtime listens where the Service points',
  '--served-model-name': 'the model answers to its metadata.name',
  '--max-model-len': 'set from spec.maxModelLen, which the KV cache is sized for',
  '--tensor-parallel-size': 'set from the plan (spec.tensorParallel)',
  '--pipeline-parallel-size': 'the plan places a replica on the partitions of one node, with tensor parallelism only',
  '--data-parallel-size': 'the plan places each replica separately (spec.replicas)',
  '--gpu-memory-utilization': 'set from the plan: the share of the partition the replica was given',
  '--dtype': 'set from the planned precision (spec.precision)',
  '--quantization': 'set from the planned precision (spec.precision, spec.checkpoints)',
  '--kv-cache-dtype': 'set from the sizing, which the KV cache memory depends on',
  '--max-num-seqs': 'set from the partition: the activation memory is sized for it',
  '--max-num-batched-tokens': 'set from the partition: the activation memory and the sliding-window KV cache are sized for it',
  '--disable-hybrid-kv-cache-manager': 'set from spec.fullSlidingWindowKv, which the KV cache is sized for',
  '--kv-cache-memory': 'the KV cache is what the partition leaves after weights and overheads (spec.concurrency is its minimum)',
};

/** vLLM's short spellings of derived flags (vllm/engine/arg_utils.py). */
const SHORT_FLAGS: Readonly<Record<string, string>> = {
  '-tp': '--tensor-parallel-size',
  '-pp': '--pipeline-parallel-size',
  '-dp': '--data-parallel-size',
  '-q': '--quantization',
};

/**
 * The derived flag that one `args` item sets, if any: `--flag=value`, `--flag` (its value is the
 * next item) and `--flag value` in one item all count, and so do vLLM's `--flag_name` spelling
 * (its argument parser turns `_` into `-`) and the short forms.
 */
export function derivedFlagOf(arg: string): string | undefined {
  if (!arg.startsWith('-')) return undefined;
  const name = arg.split(/[=\s]/, 1)[0]!;
  const long = SHORT_FLAGS[name] ?? (name.startsWith('--') ? name.replace(/_/g, '-') : name);
  return Object.hasOwn(DERIVED_ENGINE_FLAGS, long) ? long : undefined;
}

/** Environment variables the compiler sets in model pods, and why a model's `env` may not. */
export const COMPILER_OWNED_ENV: Readonly<Record<string, string>> = {
  HF_TOKEN: "the compiler sets it from the Secret named in the Fleet's spec.huggingFaceToken (a token in git is a leaked token)",
  ROCR_VISIBLE_DEVICES: 'the compiler sets it to the planned partitions with env isolation; with the device plugin it would hide the partitions the pod was given',
  HIP_VISIBLE_DEVICES: 'the compiler sets it to the planned partitions with env isolation; with the device plugin it would hide the partitions the pod was given',
  CUDA_VISIBLE_DEVICES: 'PyTorch on ROCm reads it like HIP_VISIBLE_DEVICES: it would hide the planned partitions',
  VLLM_USE_TRITON_AWQ: 'the compiler sets it from the planned precision (int4 runs on the Triton AWQ kernels on ROCm)',
};

/**
 * Namespaces Kubernetes creates and uses itself (kubernetes.io/docs/concepts/overview/working-with-objects/namespaces).
 * The compiler creates its namespaces with a `privileged` Pod Security label, which must not land
 * on one of these.
 */
export const RESERVED_NAMESPACES: readonly string[] = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

/** An image pinned by digest: `name[:tag]@sha256:<64 hex>`. */
export const IMAGE_DIGEST = /@sha256:[0-9a-f]{64}$/;
/** The tag of an image reference (after the last `/`, so a registry port is not a tag). */
const IMAGE_TAG = /:([\w][\w.-]{0,127})$/;

/**
 * How firmly an image reference names its contents: by `digest`, by a `tag`, or `floating`
 * (untagged, which means `:latest`, or `:latest` itself), which the kubelet pulls again and again
 * (`imagePullPolicy` defaults to Always for `latest`) and which means something else tomorrow.
 */
export function imagePinning(image: string): 'digest' | 'tag' | 'floating' {
  if (IMAGE_DIGEST.test(image)) return 'digest';
  const tag = IMAGE_TAG.exec(image.split('/').pop() ?? '')?.[1];
  return tag === undefined || tag === 'latest' ? 'floating' : 'tag';
}

/**
 * Credentials written into a git URL (`https://user:token@host/…`, `https://token@host/…`,
 * `ssh://git:password@host/…`): the URL is committed and applied to the cluster in plain text.
 * A user name alone is how SSH works (`git@host:org/repo`) and is fine there.
 */
export function urlCredentials(url: string): string | undefined {
  const scp = /^[^@/:]+:[^@/]*@/.exec(url);
  if (scp) return 'a user and password';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.password) return 'a password or token';
  if (parsed.username && /^https?:$/.test(parsed.protocol)) return 'a user name or token (HTTPS has no user without credentials)';
  return undefined;
}
