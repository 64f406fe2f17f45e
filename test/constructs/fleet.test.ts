import { Yaml } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_CHART_ID, STAGES } from '../../constructs/fleet.ts';
import { gitRef } from '../../constructs/flux-sync.ts';
import { SYNC_WAVE_ANNOTATION } from '../../constructs/sync-wave.ts';
import { fleet, type K8sObject, PARTITIONER_IMAGE, realisticInput, smallInput, synthFleet } from './fixtures.ts';

const charts = synthFleet(realisticInput());
const all = [...charts.values()].flat();
const stageIds = [STAGES.namespaces.id, STAGES.nodeSetup.id, STAGES.serving.id, STAGES.monitoring.id];
const CLUSTER_SCOPED = new Set(['Namespace', 'PriorityClass', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

interface PodSpecAt {
  readonly where: string;
  readonly chart: string;
  readonly spec: any;
  /** Containers in the pod, the ISVC's `predictor.model` included. */
  readonly containers: any[];
  readonly isModel: boolean;
}

/** Every pod spec an object carries, whatever its kind. */
function podSpecs(): PodSpecAt[] {
  const out: PodSpecAt[] = [];
  for (const [chart, objects] of charts) {
    for (const o of objects) {
      const where = `${chart}/${o.kind}/${o.metadata.name}`;
      if (o.kind === 'InferenceService') {
        const p = o.spec.predictor;
        out.push({ where, chart, spec: p, containers: [p.model, ...(p.containers ?? []), ...(p.initContainers ?? [])], isModel: true });
      } else if (o.kind === 'ServingRuntime') {
        out.push({ where, chart, spec: o.spec, containers: [...o.spec.containers, ...(o.spec.initContainers ?? [])], isModel: true });
      } else if (o.spec?.template?.spec) {
        const s = o.spec.template.spec;
        out.push({ where, chart, spec: s, containers: [...s.containers, ...(s.initContainers ?? [])], isModel: false });
      } else if (o.kind === 'Pod') {
        out.push({ where, chart, spec: o.spec, containers: [...o.spec.containers, ...(o.spec.initContainers ?? [])], isModel: false });
      }
    }
  }
  return out;
}

describe('buildFleetCharts layout', () => {
  it('emits one flat chart per stage plus the bootstrap chart', () => {
    expect([...charts.keys()]).toEqual([...stageIds, BOOTSTRAP_CHART_ID]);
    for (const id of charts.keys()) expect(id).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  it('names every object explicitly and uniquely per kind and namespace', () => {
    const keys = all.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const o of all) expect(o.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  });

  it('sets a namespace on namespaced objects and none on cluster-scoped ones', () => {
    for (const o of all) {
      if (CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toMatch(/^[a-z0-9-]+$/);
    }
  });

  it('creates the model and system namespaces and one PriorityClass per tier', () => {
    const objects = charts.get(STAGES.namespaces.id)!;
    expect(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name)).toEqual(['aim-models', 'aim-system']);
    const classes = objects.filter((o) => o.kind === 'PriorityClass');
    expect(classes.map((o) => [o.metadata.name, o.value])).toEqual([
      ['aim-critical', 1000000],
      ['aim-high', 100000],
      ['aim-medium', 10000],
      ['aim-low', 1000],
    ]);
    for (const c of classes) expect(c.value).toBeLessThan(1000000000);
  });

  it('omits the bootstrap chart when the fleet uses neither Argo CD nor Flux', () => {
    const input = realisticInput({ gitops: {} });
    expect([...synthFleet(input).keys()]).toEqual(stageIds);
  });

  it('is deterministic', () => {
    const yaml = (c: Map<string, K8sObject[]>) => [...c.values()].map((objects) => Yaml.stringify(...objects)).join('---\n');
    expect(yaml(synthFleet(realisticInput()))).toBe(yaml(charts));
  });
});

describe('buildFleetCharts ordering', () => {
  const wave = (o: K8sObject) => o.metadata.annotations?.[SYNC_WAVE_ANNOTATION];

  it('puts every stage object into an integer sync wave', () => {
    for (const id of stageIds) {
      expect(charts.get(id)!.length).toBeGreaterThan(0);
      for (const o of charts.get(id)!) expect(wave(o), `${id}/${o.kind}/${o.metadata.name}`).toMatch(/^-?\d+$/);
    }
  });

  it('orders namespaces before node setup before the runtime before the models', () => {
    const wavesOf = (predicate: (o: K8sObject, chart: string) => boolean) =>
      new Set([...charts].flatMap(([chart, objects]) => objects.filter((o) => predicate(o, chart)).map((o) => Number(wave(o)))));
    expect(wavesOf((_, c) => c === STAGES.namespaces.id)).toEqual(new Set([0]));
    expect(wavesOf((_, c) => c === STAGES.nodeSetup.id)).toEqual(new Set([1]));
    expect(wavesOf((o) => o.kind === 'ServingRuntime' || (o.kind === 'ServiceAccount' && o.metadata.namespace === 'aim-models'))).toEqual(new Set([2]));
    expect(wavesOf((o) => o.kind === 'InferenceService' || (o.kind === 'Service' && o.metadata.namespace === 'aim-models'))).toEqual(new Set([3]));
  });

  it('leaves the bootstrap objects out of the waves', () => {
    for (const o of charts.get(BOOTSTRAP_CHART_ID)!) expect(wave(o)).toBeUndefined();
  });

  it('chains one Flux Kustomization per stage folder, each waiting for the one before (monitoring for the namespaces only)', () => {
    const kustomizations = charts.get(BOOTSTRAP_CHART_ID)!.filter((o) => o.kind === 'Kustomization');
    expect(kustomizations.map((k) => k.spec.path)).toEqual(stageIds.map((id) => `./dist/${id}`));
    kustomizations.forEach((k, i) => {
      expect(k.metadata.name).toBe(`prod-${stageIds[i]}`);
      const after = stageIds[i] === STAGES.monitoring.id ? `prod-${STAGES.namespaces.id}` : kustomizations[i - 1]?.metadata.name;
      expect(k.spec.dependsOn).toEqual(i === 0 ? undefined : [{ name: after }]);
      expect(k.spec).toMatchObject({ wait: true, prune: true, interval: '10m', sourceRef: { kind: 'GitRepository', name: 'prod' } });
    });
    const serving = kustomizations.find((k) => k.metadata.name === `prod-${STAGES.serving.id}`)!;
    expect(serving.spec.healthCheckExprs).toEqual([
      expect.objectContaining({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService' }),
    ]);
    const source = charts.get(BOOTSTRAP_CHART_ID)!.find((o) => o.kind === 'GitRepository')!;
    expect(source.spec).toEqual({ interval: '10m', url: 'https://git.example.com/platform/gpu-fleet.git', ref: { branch: 'main' } });
  });

  it('syncs the rendered tree with one automated Argo CD Application that skips non-manifests', () => {
    const app = charts.get(BOOTSTRAP_CHART_ID)!.find((o) => o.kind === 'Application')!;
    expect(app.metadata).toMatchObject({ name: 'prod', namespace: 'argocd' });
    expect(app.spec).toEqual({
      project: 'default',
      source: {
        repoURL: 'https://git.example.com/platform/gpu-fleet.git',
        targetRevision: 'main',
        path: 'dist',
        directory: { recurse: true, include: '*.yaml', exclude: 'bootstrap/*' },
      },
      destination: { server: 'https://kubernetes.default.svc' },
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ['ServerSideApply=true', 'SkipDryRunOnMissingResource=true'] },
    });
  });

  it('normalises the tree path of the Git source', () => {
    const base = fleet().spec.gitops;
    const input = realisticInput({ gitops: { argocd: { ...base.argocd!, path: './rendered/prod/' }, flux: { ...base.flux!, path: '.' } } });
    const bootstrap = synthFleet(input).get(BOOTSTRAP_CHART_ID)!;
    expect(bootstrap.find((o) => o.kind === 'Application')!.spec.source.path).toBe('rendered/prod');
    expect(bootstrap.filter((o) => o.kind === 'Kustomization').map((k) => k.spec.path)).toEqual(stageIds.map((id) => `./${id}`));
  });
});

describe('gitRef', () => {
  it('pins a full commit, names a ref, or follows a branch', () => {
    expect(gitRef('0e9e39f249a16976918f6564b8830bc894c89659')).toEqual({ commit: '0e9e39f249a16976918f6564b8830bc894c89659' });
    expect(gitRef('refs/tags/v1.2.0')).toEqual({ name: 'refs/tags/v1.2.0' });
    expect(gitRef('release-1')).toEqual({ branch: 'release-1' });
  });
});

describe('buildFleetCharts security', () => {
  const pods = podSpecs();

  it('finds the pods of every workload kind it emits', () => {
    expect(pods.filter((p) => p.isModel).length).toBeGreaterThan(1);
    expect(pods.filter((p) => p.chart === STAGES.nodeSetup.id).length).toBeGreaterThan(0);
  });

  it('runs only the partitioner container privileged', () => {
    const privileged = pods.flatMap((p) => p.containers.filter((c) => c.securityContext?.privileged === true).map((c) => ({ ...c, where: p.where })));
    expect(privileged.map((c) => [c.where.split('/')[0], c.image])).toEqual([[STAGES.nodeSetup.id, PARTITIONER_IMAGE]]);
  });

  it('uses no host network anywhere', () => {
    for (const p of pods) expect(p.spec.hostNetwork ?? false, p.where).toBe(false);
  });

  it('keeps secrets out of git: no Secret objects, no token-like env values, credentials only by reference', () => {
    expect(all.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const p of pods) {
      for (const c of p.containers) {
        for (const e of c.env ?? []) {
          if (/TOKEN|SECRET|PASSWORD|API_KEY/i.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${p.where} ${e.name}`).toBeDefined();
          if (e.value !== undefined) expect(e.value, `${p.where} ${e.name}`).not.toMatch(/^(hf_|ghp_|sk-)|[A-Za-z0-9+/_-]{32,}/);
        }
      }
    }
  });

  it('gives every container CPU and memory requests and limits', () => {
    for (const p of pods) {
      for (const c of p.containers) {
        for (const kind of ['requests', 'limits']) {
          expect(c.resources?.[kind], `${p.where} ${c.name} ${kind}`).toEqual(expect.objectContaining({ cpu: expect.anything(), memory: expect.anything() }));
        }
      }
    }
  });

  it('drops every capability and privilege escalation in model pods', () => {
    for (const p of pods.filter((p) => p.isModel)) {
      for (const c of p.containers) {
        expect(c.securityContext, p.where).toMatchObject({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'] } });
        expect(c.securityContext.capabilities.add, p.where).toBeUndefined();
      }
    }
  });

  it('lets model pods mount from the host only the GPU device nodes', () => {
    const env = synthFleet(realisticInput({ isolation: 'env' }));
    for (const objects of [...charts.values(), ...env.values()]) {
      for (const o of objects.filter((o) => o.kind === 'InferenceService' || o.kind === 'ServingRuntime')) {
        const volumes = o.kind === 'InferenceService' ? o.spec.predictor.volumes : o.spec.volumes;
        for (const v of volumes ?? []) if (v.hostPath) expect(['/dev/kfd', '/dev/dri']).toContain(v.hostPath.path);
      }
    }
  });
});

describe('buildFleetCharts output', () => {
  it('matches the reviewed YAML of a small fleet (node setup and monitoring are snapshotted by their own tests)', async () => {
    const small = synthFleet(smallInput());
    const yaml = [...small]
      .filter(([id]) => id !== STAGES.nodeSetup.id && id !== STAGES.monitoring.id)
      .map(([id, objects]) => `# chart: ${id}\n${Yaml.stringify(...objects)}`)
      .join('---\n');
    await expect(yaml).toMatchFileSnapshot('./__snapshots__/small-fleet.yaml');
  });
});

describe('buildFleetCharts with the gpu-operator partitioning backend', () => {
  const gpuOperator = { backend: 'gpu-operator', maxUnavailableNodes: 1, gpuOperator: { namespace: 'openshift-amd-gpu', deviceConfig: 'mi300x', gpuClientSystemdServices: ['gpuagent'] } } as const;

  it.each(['devicePlugin', 'env'] as const)('synthesizes the realistic fleet (isolation %s): DCM ConfigMap in the operator namespace, no privileged container anywhere', (isolation) => {
    const dcmCharts = synthFleet(realisticInput({ isolation, partitioning: gpuOperator }));
    const objects = [...dcmCharts.values()].flat();
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'aim-gpu-sharing-dcm-profiles');
    expect(configMap?.metadata.namespace).toBe('openshift-amd-gpu');
    const containers = objects.flatMap((o) => (o.kind === 'DaemonSet' ? o.spec.template.spec.containers : []));
    expect(containers.map((c: any) => [c.name, c.securityContext.privileged])).toEqual([['orchestrator', false]]);
    const env = Object.fromEntries(containers[0].env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ DEVICE_PLUGIN_NAMESPACE: 'openshift-amd-gpu', DEVICE_PLUGIN_SELECTOR: 'daemonset-name=mi300x,app.kubernetes.io/name!=device-config-manager' });
    // Serving does not depend on the backend.
    expect(dcmCharts.get(STAGES.serving.id)).toEqual(synthFleet(realisticInput({ isolation })).get(STAGES.serving.id));
  });
});
