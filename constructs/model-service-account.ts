import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import type { SecretKeyRef } from '../api/types.ts';

export const MODEL_SERVICE_ACCOUNT_NAME = 'aim-model-server';
/** The only key KServe's credential builder turns into the storage initializer's HF_TOKEN. */
export const HF_TOKEN_KEY = 'HF_TOKEN';

export interface ModelServiceAccountProps {
  readonly namespace: string;
  /**
   * Secret (in `namespace`) holding the Hugging Face token under the key `HF_TOKEN`.
   * @default - no token: only public models can be downloaded
   */
  readonly huggingFaceToken?: SecretKeyRef;
}

/**
 * The ServiceAccount model pods run as. It mounts no API token (model servers never talk to the
 * API server). With a Hugging Face token it lists the token's Secret: KServe's credential builder
 * reads the Secrets of the predictor's ServiceAccount and gives the storage initializer, which
 * downloads `hf://` models, `HF_TOKEN` from a Secret that has that key (kserve `pkg/credentials/hf`).
 * The token itself stays in the cluster: only the Secret's name is in git.
 */
export class ModelServiceAccount extends Construct {
  public readonly name = MODEL_SERVICE_ACCOUNT_NAME;

  constructor(scope: Construct, id: string, props: ModelServiceAccountProps) {
    super(scope, id);
    const token = props.huggingFaceToken;
    if (token && token.key !== HF_TOKEN_KEY) {
      throw new Error(
        `${this.node.path}: KServe's storage initializer reads the Hugging Face token only from the Secret key "${HF_TOKEN_KEY}", got key "${token.key}" of Secret "${token.name}"`,
      );
    }
    new k8s.KubeServiceAccount(this, 'Resource', {
      metadata: { name: MODEL_SERVICE_ACCOUNT_NAME, namespace: props.namespace },
      automountServiceAccountToken: false,
      secrets: token ? [{ name: token.name }] : undefined,
    });
  }
}
