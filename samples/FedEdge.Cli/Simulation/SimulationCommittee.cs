using System.Security.Cryptography;
using FedEdge.Aggregation;
using FedEdge.Transparency;

namespace FedEdge.Cli.Simulation;

/// <summary>
/// <c>fededge simulate --committee N</c>: N = 3f + 1 in-process validators (<see cref="TreeHeadValidator"/>), each with
/// its own key and state folder under <c>&lt;out&gt;/committee</c>, and a committee file there for
/// <c>fededge ledger verify --committee</c>. <c>--faulty-validator down|lying</c> makes the last one fail: down throws
/// as an unreachable host does, lying answers with a co-signature by a key that is not its configured one.
/// </summary>
internal sealed class SimulationCommittee : IDisposable
{
    private readonly List<ECDsa> _keys = [];
    private readonly List<TreeHeadValidator> _validators = [];

    private SimulationCommittee(string directory)
    {
        Directory = directory;
    }

    /// <summary>The committee the coordinator asks.</summary>
    public TreeHeadCommittee Committee { get; private set; } = null!;

    /// <summary>The committee folder (keys, state, committee.json).</summary>
    public string Directory { get; }

    /// <summary>The committee file, for <c>fededge ledger verify --committee</c>.</summary>
    public string FilePath { get; private set; } = null!;

    public static SimulationCommittee Create(SimulationConfig config, string logKeyPem)
    {
        string directory = Path.Combine(config.OutDirectory, "committee");
        if (System.IO.Directory.Exists(directory))
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }

        var committee = new SimulationCommittee(directory);
        var members = new List<CommitteeMember>();
        for (int i = 0; i < config.CommitteeSize; i++)
        {
            string name = "validator-" + i;
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            committee._keys.Add(key);
            var validator = new TreeHeadValidator(name, key, logKeyPem, Path.Combine(directory, name), strategy => AggregationStrategies.Create(strategy, SimulationStrategy.Options(config)));
            committee._validators.Add(validator);
            ITreeHeadWitness witness = i == config.CommitteeSize - 1 && config.FaultyValidator is { } fault
                ? new FaultyWitness(validator, fault)
                : validator;
            members.Add(new CommitteeMember(witness, key.ExportSubjectPublicKeyInfoPem()));
        }

        committee.Committee = new TreeHeadCommittee(members);
        committee.FilePath = CommitteeFile.Write(directory, members.Select(m => (m.Witness.Id, m.PublicKeyPem)));
        return committee;
    }

    public void Dispose()
    {
        foreach (TreeHeadValidator v in _validators)
        {
            v.Dispose();
        }

        foreach (ECDsa k in _keys)
        {
            k.Dispose();
        }
    }

    /// <summary>A validator that is down or lies (<c>--faulty-validator</c>): the demo's proof that the quorum holds.</summary>
    private sealed class FaultyWitness(ITreeHeadWitness honest, string fault) : ITreeHeadWitness
    {
        private readonly ECDsa _otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public string Id => honest.Id;

        public ValueTask<WitnessVerdict> CoSignAsync(CoSignRequest request, CancellationToken cancellationToken = default) => fault == "down"
            ? throw new IOException($"{Id} is down (--faulty-validator down)")
            : ValueTask.FromResult(WitnessVerdict.Signed(CoSignature.Sign(Id, request.Head, _otherKey)));
    }
}
