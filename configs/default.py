"""Defaults: the settings of Larsen et al. (2016) for 64x64 CelebA.

Other configs import this one and change a few fields. The network widths
(`config.model` fields left at None) are those of `config.model.arch` in the
one table of `vaegan_jax/model/architectures.py` (`ARCHITECTURES`); set a field to change
it. A run's config.json holds the resolved values.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Warm start: a new run takes the parameters and BatchNorm statistics of
  # init_networks from another run (its workdir: the latest checkpoint, or
  # <workdir>/checkpoints/<step>), e.g. init_networks=('decoder',) to train
  # a GAN from a pretrained VAE's decoder. Optimizer states start afresh; a
  # workdir with checkpoints of its own resumes from them instead.
  config.init_from = config_dict.placeholder(str)
  config.init_networks = ('encoder', 'decoder', 'discriminator')

  config.data = ml_collections.ConfigDict()
  # 'bundled_mnist' (5,000 digits shipped with vaegan_jax), 'folder' (the images
  # under config.data.path), or a TFDS dataset read from its prepared
  # ArrayRecord files: 'mnist', 'fashion_mnist', 'cifar10', 'celeb_a', ...
  config.data.name = 'celeb_a'
  config.data.image_size = 64
  config.data.channels = 3  # 1: gray, 3: RGB
  # Region kept before resizing: 'celeba_148' (rows 40:188, columns 15:163 of
  # the 218x178 aligned CelebA images, as the original), 'center_108',
  # 'center_160', 'center_square' or 'none' (the whole image).
  config.data.crop = 'celeba_148'
  # TFDS: where prepared datasets are (None: $TFDS_DATA_DIR or
  # ~/tensorflow_datasets), and the splits (None: 'test' held out;
  # 'train+validation' for celeb_a as the original, else 'train').
  config.data.tfds_data_dir = config_dict.placeholder(str)
  config.data.train_split = config_dict.placeholder(str)
  config.data.eval_split = config_dict.placeholder(str)
  # Folder: the images' directory (any tree of JPEG/PNG files), optional
  # files in CelebA's list_attr_celeba.txt and list_eval_partition.txt
  # formats, where the decoded uint8 cache is written (None:
  # ~/.cache/vaegan_jax) and the threads decoding it (None: all cores).
  config.data.path = config_dict.placeholder(str)
  config.data.attributes_file = config_dict.placeholder(str)
  config.data.partition_file = config_dict.placeholder(str)
  config.data.cache_dir = config_dict.placeholder(str)
  config.data.prepare_threads = config_dict.placeholder(int)
  # Share held out for evaluation by bundled_mnist and by a folder without
  # partition file (a fixed random choice, whatever config.seed).
  config.data.holdout_fraction = 0.1
  # bundled_mnist: digits taken out of the training split as a validation
  # split (the first of the same fixed order after the held-out ones), so
  # that settings are chosen on it and results reported on the held-out
  # test split; 0: no validation split (the 4,500/500 split of earlier
  # versions).
  config.data.validation_size = 500
  # Augmentation, fixed by config.seed and the step: flip left-right with
  # probability 1/2; shift by up to this fraction of the size (0.1: ±10%).
  config.data.random_flip = False
  config.data.random_translate = 0.0
  # Loading: threads reading batches ahead, batches held ready, and
  # processes (0: none; more where decoding TFDS JPEGs needs many cores).
  config.data.num_threads = 1
  config.data.prefetch = 4
  config.data.num_workers = 0

  config.model = ml_collections.ConfigDict()
  config.model.arch = 'larsen64'
  config.model.latent_dim = config_dict.placeholder(int)
  config.model.encoder_widths = config_dict.placeholder(tuple)
  config.model.encoder_dense = config_dict.placeholder(int)
  config.model.decoder_widths = config_dict.placeholder(tuple)
  config.model.decoder_base_width = config_dict.placeholder(int)
  config.model.discriminator_widths = config_dict.placeholder(tuple)
  config.model.discriminator_dense = config_dict.placeholder(int)
  # Which discriminator convolution (1-based) gives Dis_l, taken before its
  # BatchNorm and ReLU; None: the arch's (the 4th conv for larsen64).
  config.model.dis_feature_layer = config_dict.placeholder(int)
  # 'larsen': U(±1/sqrt(3·fan_in)) as the original; also 'lecun_normal',
  # 'xavier_uniform', 'he_normal', 'normal_0.02'.
  config.model.init = 'larsen'
  config.model.bn_momentum = 0.9  # Flax convention: keep 90% of the average.
  config.model.bn_epsilon = 1e-6
  # 'subpixel' or 'lax': two formulations of the same transposed conv.
  config.model.conv_transpose_impl = 'subpixel'
  config.model.dtype = 'float32'  # computation dtype; 'bfloat16' on GPU/TPU
  # The discriminator's normalisation: 'batch' (the original), 'layer' or
  # 'none' (WGAN-GP needs one of the last two); spectral normalisation of its
  # kernels (Miyato et al. 2018).
  config.model.dis_norm = 'batch'
  config.model.spectral_norm = False
  # A remedy for mode collapse: the discriminator sees the spread of each
  # group of 4 images it judges (minibatch standard deviation).
  config.model.minibatch_std = False
  # Class-conditional generation: every network gets a learned embedding of
  # the data's condition (the digit class; CelebA's 40 attributes), the
  # discriminator as a projection. num_conditions: None takes the data's
  # (10 digit classes, 40 CelebA attributes).
  config.model.conditional = False
  config.model.num_conditions = config_dict.placeholder(int)
  config.model.condition_embedding = 32
  # An exponential moving average of the decoder (StyleGAN's G_ema), which
  # samples, interpolations, random walks and FID then use (0: off):
  # ema ← decay·ema + (1 − decay)·decoder after every step, parameters and
  # BatchNorm statistics (vaegan_jax/model/ema.py). ema_halflife_images
  # sets the decay from a half-life in images instead, 0.5 ** (batch_size /
  # halflife), and ema_rampup (StyleGAN2-ADA: 0.05) caps that half-life at
  # ema_rampup × the images seen so far.
  config.model.ema_decay = 0.0
  config.model.ema_halflife_images = config_dict.placeholder(float)
  config.model.ema_rampup = config_dict.placeholder(float)

  config.loss = ml_collections.ConfigDict()
  # 'vaegan' (Larsen et al.), 'vae' (pixel reconstruction, no
  # discriminator), 'gan' (no encoder), 'vae_then_gan' (a VAE for
  # pretrain_steps, then a GAN from its decoder), 'blend' ((1 − λ)·VAE loss +
  # λ·GAN loss with pixel reconstruction: λ=0 a VAE, λ=1 the GAN loss alone).
  config.loss.objective = 'vaegan'
  config.loss.blend_lambda = 0.5
  config.loss.pretrain_steps = 1000
  config.loss.gamma = 1e-6
  # 'original': decoder descends γ·L_llike − (1−γ)·L_GAN, as the authors'
  # code; 'paper': γ·L_llike − L_GAN, as Algorithm 1 is written.
  config.loss.decoder_weighting = 'original'
  config.loss.kl_weight = 1.0
  config.loss.kl_warmup_steps = 0  # KL weight rises linearly from 0 over these
  # Reconstruction error on Dis_l (vaegan) or on pixels (vae, blend): 'l2'
  # (Gaussian NLL), 'l1', or on pixels only 'bce' (Bernoulli NLL of the
  # intensities, a VAE's binary cross-entropy), summed over features or
  # pixels ('sum', a proper log-likelihood, as the original) or averaged
  # ('mean').
  config.loss.recon = 'l2'
  config.loss.recon_reduction = 'sum'
  # 'minimax' (the original's decoder term log(1 − D(G(z)))),
  # 'non_saturating' (−log D(G(z))), 'lsgan', 'hinge', 'wgan_gp'.
  config.loss.gan = 'minimax'
  config.loss.gp_weight = 10.0  # λ of WGAN-GP's gradient penalty
  config.loss.n_critic = 1  # discriminator updates per encoder/decoder update
  # The paper's equation has log(1 − Dis(Dec(Enc(x)))); the CelebA run of the
  # authors' code left it out.
  config.loss.discriminate_recon = False
  config.loss.real_weight = 0.5  # D's real : generated weighting
  # A remedy for mode collapse: experience replay keeps the last replay_size
  # generated images (0: off) and shows the discriminator replay_fraction
  # of a batch of them beside the fresh ones.
  config.loss.replay_size = 0
  config.loss.replay_fraction = 0.5
  # Differentiable augmentation (DiffAugment, Zhao et al. 2020): a
  # comma-separated list of 'color', 'translation', 'cutout' and 'flip' (not
  # for digits), e.g. 'color,translation,cutout' ('' : off). Every image
  # the discriminator judges in a step gets the same random draw, and the
  # decoder's GAN gradient flows through it. augment_llike: Dis_l of X and
  # X~ in L_llike see the same draw too (False: the paper's L_llike, on the
  # images as they are).
  config.loss.augment = ''
  config.loss.augment_llike = False
  # R1 (Mescheder et al. 2018): the discriminator's loss adds
  # (r1_weight / 2)·E‖∇_x D(x)‖² on real images (0: off), computed every
  # r1_every steps and weighed r1_every times there (StyleGAN2's lazy
  # regularisation). Not with wgan_gp, which has its own penalty.
  config.loss.r1_weight = 0.0
  config.loss.r1_every = 16
  config.loss.equilibrium_gating = True
  config.loss.equilibrium = 0.68
  config.loss.margin = 0.35

  config.optim = ml_collections.ConfigDict()
  config.optim.name = 'rmsprop'  # or 'adam'
  config.optim.lr = 3.125e-4  # 0.02 per example-summed batch of 64
  config.optim.rmsprop_decay = 0.9
  config.optim.b1 = 0.9
  config.optim.b2 = 0.999
  config.optim.eps = 1e-8
  config.optim.weight_decay = 1e-5
  # 'larsen': lr0 − (epoch/decay_epochs)^decay_power · (lr0 − lr_end), per
  # epoch of steps_per_epoch batches; 'exponential': × decay_rate per epoch;
  # 'constant'.
  config.optim.schedule = 'larsen'
  config.optim.steps_per_epoch = 250
  config.optim.decay_epochs = 150
  config.optim.decay_power = 0.75
  config.optim.decay_rate = 0.75
  config.optim.lr_end = 1.5625e-7
  for net in ('encoder', 'decoder', 'discriminator'):
    config.optim[net] = ml_collections.ConfigDict()
    config.optim[net].lr = config_dict.placeholder(float)  # None: optim.lr

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 64
  config.train.num_steps = 37_500  # 150 epochs of 250 batches
  config.train.log_every = 50
  config.train.checkpoint_every = 1000
  config.train.keep_checkpoints = 3
  config.train.prefetch_to_device = 2  # batches copied to the devices ahead
  # Trace this many steps with jax.profiler (0: none), 3 steps after the
  # run's first, into <workdir>/profile/ (TensorBoard's profile plugin or
  # ui.perfetto.dev).
  config.train.profile_steps = 0

  config.eval = ml_collections.ConfigDict()
  config.eval.every = 2500  # steps; 0: only at the end
  # Keep the checkpoint with the lowest value of this eval metric ('' to
  # keep only the latest ones), e.g. 'fid'.
  config.eval.best_metric = 'fid'
  config.eval.batch_size = 256
  config.eval.num_examples = 10_000  # held-out images evaluated (at most)
  # The held-out images evaluation scores: 'test' (to report results) or
  # 'validation' (to choose settings; needs data.validation_size > 0).
  config.eval.split = 'test'
  # Sample quality: 'inception' (FID with the FID InceptionV3, weights from
  # config.eval.inception_weights), 'digits' (the project's digits
  # classifier), 'auto' (digits for 28x28 gray data, inception when weights
  # are given, else none) or 'none'.
  config.eval.fid_features = 'auto'
  config.eval.inception_weights = config_dict.placeholder(str)
  config.eval.classifier_dir = config_dict.placeholder(str)  # None: ~/.cache
  # Samples FID, precision and recall score (50_000 as most papers' FID-50k),
  # against the real images of fid_reference: 'eval' (the first num_examples
  # held-out images) or 'train' (the whole training split, as StyleGAN's
  # fid50k_full). Samples and real images are scored as 8-bit images, and
  # eval_metrics.json records the protocol beside the FID (fid_protocol).
  config.eval.num_fid_samples = 10_000
  config.eval.fid_reference = 'eval'
  # fid_reference may also be an .npz of FID statistics (mu, sigma: TTUR's,
  # clean-fid's, pytorch-fid --save-stats), against which only the FIDs are
  # computed; write_reference_stats: where --mode=evaluate writes this run's
  # reference statistics in that format (None: not written).
  config.eval.write_reference_stats = config_dict.placeholder(str)
  # How Inception features resize images to 299x299: 'pytorch_fid'
  # (bilinear, no antialiasing) or 'clean' (clean-fid's PIL bicubic).
  config.eval.fid_resize = 'pytorch_fid'
  # Metrics beside FID, precision and recall, each switched off by False:
  # KID (100 subsets of up to 1,000 samples), density and coverage (k=5),
  # rFID (the FID of held-out reconstructions) and memorisation (samples'
  # distance to their nearest training image against held-out images').
  config.eval.kid = True
  config.eval.density_coverage = True
  config.eval.rfid = True
  config.eval.memorisation = True
  config.eval.interpolation_steps = 10
  # The IWAE bound on held-out log-likelihood with this many importance
  # samples per image (0: off), over the first iwae_examples held-out images:
  # pixels for the VAE, Dis_l features for the VAE-GAN (metrics/iwae.py).
  config.eval.iwae_samples = 16
  config.eval.iwae_examples = 500
  # Attribute vectors (data with attributes): the original's 18.
  config.eval.attributes = (
      'Bald', 'Bangs', 'Black_Hair', 'Blond_Hair', 'Bushy_Eyebrows',
      'Eyeglasses', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male',
      'Mustache', 'Pale_Skin', 'Rosy_Cheeks', 'Smiling', 'Straight_Hair',
      'Wavy_Hair', 'Wearing_Lipstick', 'Young')
  config.eval.attribute_examples = 10_000
  # Posterior collapse watch: warn when the held-out KL (nats, summed over
  # latent dimensions) stays below collapse_kl for collapse_patience
  # evaluations; stop the run then if stop_on_collapse.
  config.eval.collapse_kl = 0.5
  config.eval.collapse_patience = 3
  config.eval.stop_on_collapse = False
  return config
