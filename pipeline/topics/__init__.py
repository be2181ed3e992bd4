"""Topic model of the papers' prose (LDA, gensim): fitting on training papers, θ for every paper,
inference from context words. Only the topics stage imports this package (gensim is slow to load).

    from pipeline.topics.model import TopicModel
    theta = TopicModel.load("outputs/default/topics/model").infer("star gravity galaxies")
"""
