using FedEdge.Training;
using Microsoft.Extensions.DependencyInjection;

namespace FedEdge.Core.Tests.Training;

public sealed class ModelCatalogTests
{
    [Theory]
    [InlineData("mlp", 3)]
    [InlineData("mednn", 4)]
    [InlineData("colearn", 3)]
    [InlineData("autoencoder", 8)]
    [InlineData("mlp:20-7-1", 2)]
    public void Create_KnownName_GivesTrainerWithMatchingInitialParameters(string name, int layers)
    {
        ModelBundle bundle = ModelCatalog.Create(name, seed: 3);
        Assert.Equal(layers, bundle.Spec.LayerCount);
        Assert.Equal(bundle.Trainer.Layout, bundle.InitialParameters.Layout);
        Assert.Equal(bundle.InitialParameters.ComputeHash(), ModelCatalog.Create(name, seed: 3).InitialParameters.ComputeHash());
        Assert.NotEqual(bundle.InitialParameters.ComputeHash(), ModelCatalog.Create(name, seed: 4).InitialParameters.ComputeHash());
    }

    [Theory]
    [InlineData("mlp:")]
    [InlineData("mlp:10-x-1")]
    [InlineData("mlp:10-5-2")]
    [InlineData("lenet")]
    public void GetSpec_BadName_ThrowsArgumentException(string name) => Assert.Throws<ArgumentException>(() => ModelCatalog.GetSpec(name));

    [Fact]
    public void AddFedEdgeManagedTrainer_RegistersOnceAndResolves()
    {
        var services = new ServiceCollection();
        services.AddFedEdgeManagedTrainer("mednn").AddFedEdgeManagedTrainer("colearn");
        using ServiceProvider provider = services.BuildServiceProvider();
        ITrainer trainer = provider.GetRequiredService<ITrainer>();
        Assert.Equal(NetworkSpec.Mednn.CreateLayout(), trainer.Layout);
        Assert.Single(services, d => d.ServiceType == typeof(ITrainer));
    }

    [Fact]
    public void AddFedEdgeManagedTrainer_UnknownModel_FailsAtRegistration() =>
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddFedEdgeManagedTrainer("resnet"));
}
